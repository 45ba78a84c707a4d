"""The relay: from the table's DynamoDB stream to the SQS events queue (decision 3, docs/outbox.md).

Every appointment change writes its event on the appointment item (`event`: the kind and a few
extras) in the same write as the change; a note that is not an appointment change (a waitlist
offer, a closure told to a waiting person) is an EventItem put in the same transaction as what
it tells of. Either way the change and its event are one write: a cancelled transaction leaves
no stream record, and a committed one always leaves its record.

Lambda reads the stream (an EventSourceMapping with a filter: only records whose new image
carries `ev`) and calls `handle_records` with a batch in stream order. Each record becomes one
queue message: MessageGroupId = the appointment (order per appointment), MessageDeduplicationId
= the event id, made from the item (`{appointment id}.{version}.{kind}`; reminders do not bump
the version, hence the kind). At the first send that fails the batch stops and reports that
record's sequence number in `batchItemFailures`: Lambda retries from there, so nothing is lost
and nothing overtakes. A record sent twice (a retried batch) is dropped by FIFO deduplication
within five minutes and by the consumer's conditional put beyond that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib import clock, metrics
from chalicelib.messaging.errors import error_name
from chalicelib.messaging.publisher import Publisher, relay_publisher
from chalicelib.storage.models import AppointmentItem, EventItem, plain

logger = logging.getLogger("timebok.messaging.relay")

# What the event carries besides the kind that is not a payload field (a reminder's own time).
_NOT_PAYLOAD = frozenset({"k", "t"})
# Kinds whose text quotes the item's `reason` (staff's reject or cancel, a closure).
_ENDED_WITH_REASON = frozenset({"rejected", "cancelled", "closed"})


def event_id(appointment_id: str, version: int, kind: str) -> str:
    """Deterministic: a retried record gets the same id (FIFO deduplication, the inbox's key).
    The version is zero-padded so that two events of one appointment in the same second (the
    inbox sorts by time, then id) keep their order past version 9."""
    return f"{appointment_id}.{version:04d}.{kind}"


def appointment_message(item: AppointmentItem) -> dict[str, Any] | None:
    """The queue message of the event an appointment carries (None: it carries none)."""
    event = plain(item.event)
    kind = event.get("k")
    if not kind:
        return None
    location, timebook, contact = plain(item.location), plain(item.timebook), plain(item.health_contact)
    payload = {
        "for_pid": item.for_pid,
        "timebook_name": timebook.get("name", ""),
        "health_contact_name": contact.get("name", ""),
        "start": item.start,
        "location_name": location.get("name", ""),
        "location_address": location.get("address", ""),
        "status": item.status,
        "language": item.language or "nb",  # the texts' and the SMS's language (messaging/texts.py, sms.py)
        **{name: value for name, value in event.items() if name not in _NOT_PAYLOAD},
    }
    if item.sms_to_phone and item.phone:
        # Asked for at booking: the SMS may go to this phone (messaging/sms.py, asked_for_booking_phone;
        # KRR's reservation still wins). Without asking, the phone stays off the queue.
        payload.update(sms_to_phone="yes", phone=item.phone)
    if kind in _ENDED_WITH_REASON and item.reason:
        # Set by the change that ended it (a final state): stored once, on the item.
        payload["reason"] = item.reason
    return {
        "event_id": event_id(item.id, int(item.version), kind),
        "kind": kind,
        "appointment_id": item.id,
        "created_at": event.get("t") or item.updated_at,
        "payload": payload,
    }


def note_message(item: EventItem) -> dict[str, Any]:
    """The queue message of a standalone event item."""
    return {
        "event_id": item.event_id,
        "kind": item.kind,
        "appointment_id": item.appointment_id,
        "created_at": item.created_at,
        "payload": plain(item.payload),
    }


def message_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The message a stream record carries, or None for a record without an event (a slot, a
    person, a removal by TTL...: the deployed filter keeps those from the function anyway)."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image or "ev" not in image:
        return None
    if "payload" in image:
        return note_message(EventItem.from_raw_data(dict(image)))
    return appointment_message(AppointmentItem.from_raw_data(dict(image)))


def handle_records(records: Iterable[Mapping[str, Any]], publisher: Publisher | None = None) -> dict[str, Any]:
    """Send the events of a batch of stream records, in order; stop at the first failure and
    name it, so Lambda retries the batch from that record (ReportBatchItemFailures)."""
    sent = 0
    oldest: float | None = None
    for record in records:
        sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
        created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        if isinstance(created, int | float) and (oldest is None or created < oldest):
            oldest = float(created)
        try:
            message = message_of(record)
            if message is None:
                continue
            if publisher is None:
                publisher = relay_publisher()
            publisher.publish(message)
        except Exception as error:  # SQS down or throttled, a record we cannot read: retried from here
            logger.warning("relay: record %s not sent (%s); retried from it", sequence, error_name(error))
            if sent:
                logger.info("relay: %d sent before it", sent)
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
        sent += 1
    if oldest is not None:
        metrics.relay_lag(clock.now().timestamp() - oldest)
        metrics.flush()
    return {"batchItemFailures": []}
