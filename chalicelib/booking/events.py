"""Events: what happened to an appointment, told to the citizen's inbox (decision 3).

An appointment change carries its event on the appointment item itself (`event`), written by
the very write that makes the change: no change without its event, no event without its change.
The table's stream brings the new item to the relay (chalicelib/messaging/relay.py), which makes
the queue message from it; nothing is sent from the request (docs/outbox.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.domain.holds import HoldRef


def change_event(kind: str, **extra: str) -> dict[str, str]:
    """The `event` attribute of an appointment change: its inbox kind (requested, confirmed,
    rejected, cancelled, closed, rescheduled, reminder) and the few extras its text needs
    (a reschedule's old_start; a reminder its time `t`). The rest (who, where, when, the new
    status, a reason, the event's id and time) the relay reads from the item, so the attribute
    stays a few bytes."""
    return {"k": kind, **{name: value for name, value in extra.items() if value}}


def after_commit(
    *, booked: tuple[HoldRef, str, str] | None = None, freed: Iterable[str] = (), freed_in: str | None = None
) -> None:
    """The one place for what follows a committed change, best effort (a failure never fails
    the request; the every-minute sweep catches up): a booked waitlist offer ends its entry
    (`booked` = hold, timebook id, for_pid), freed places are offered to the waitlist, and
    `freed_in` (a timebook id) offers anywhere in it (after offers were taken back)."""
    freed = tuple(freed)
    if (booked is None or not booked[0].offer) and not freed and freed_in is None:
        return  # an ordinary booking: nothing for the waitlist, so a cold start does not load it
    from chalicelib.booking import waitlist

    if booked is not None:
        waitlist.after_booking(*booked)
    for slot_id in freed:
        waitlist.places_freed(slot_id)
    if freed_in is not None:
        waitlist.places_freed_in(freed_in)
