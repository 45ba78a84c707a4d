"""Events for the outbox: what happened to an appointment, told to the citizen's inbox.

An event is written in the same DynamoDB transaction as the change it tells of (decision 3).
"""

from __future__ import annotations

from chalicelib import clock, settings
from chalicelib.booking.common import new_id
from chalicelib.storage.models import AppointmentItem, OutboxItem, plain


def event_for(appointment: AppointmentItem, kind: str, **extra: str) -> OutboxItem:
    """`kind` is an inbox kind: requested, confirmed, rejected, cancelled, rescheduled, reminder."""
    location, timebook, contact = (
        plain(appointment.location),
        plain(appointment.timebook),
        plain(appointment.health_contact),
    )
    payload = {
        "for_pid": appointment.for_pid,
        "timebook_name": timebook["name"],
        "health_contact_name": contact["name"],
        "start": appointment.start,
        "location_name": location.get("name", ""),
        "location_address": location.get("address", ""),
        **extra,
    }
    return OutboxItem(
        event_id=new_id("ev"),
        kind=kind,
        appointment_id=appointment.id,
        # Milliseconds: two events of one appointment in the same second keep their order.
        created_at=clock.local(clock.now()).isoformat(timespec="milliseconds"),
        payload=payload,
    )


def publish_now(event: OutboxItem) -> None:
    """Hand an event to SQS right after its commit, best effort.

    If SQS is down the event simply stays in the outbox and the every-minute relay sends it
    later: nothing is lost, and the citizen usually hears within a second.
    """
    if not settings.get().relay_after_commit:
        return
    from chalicelib.messaging.relay import relay_now

    relay_now([event])
