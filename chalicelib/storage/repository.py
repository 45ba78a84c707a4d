"""The seam between the use cases and DynamoDB: the use cases (chalicelib/booking/) reach storage
only through this module and two more capability modules, `storage.waitlist` and
`storage.staffwork`, and every name they call takes and returns domain objects
(chalicelib/domain/: Slot, Person, Timebook, Appointment, ...), never a PynamoDB item.

Capabilities, one module each (nothing else in Timebok talks to DynamoDB):
- catalog.py: health contacts, timebooks and their locations
- slots.py: slots, their day summaries (availability), creating slots, the lapsed-hold sweep
- holds.py: the hold transaction (`take_hold`), giving a hold back, reading a person
- appointments.py: the booking transaction (`book`), transitions (`change_appointment`), lists
- inbox.py: inbox messages; idempotency.py: Idempotency-Key records
- waitlist.py: entries, offers, the queue; staffwork.py: slot edits, closures, the audit log
- retention.py (issue 23): what names a person, listed by a resumable scan, and its erasure; the
  audit records about a citizen's appointments (their copy, GET /me/data)
The guarded conditions are built in claims.py, the transactions in transactions.py, every key in
keys.py, items <-> domain objects in mapping.py. No read-then-write decides anything: reads only
choose which place to try, and the conditional write decides (ConditionFailed names what lost).

A fake (an in-memory repository) replaces the names in `__all__` here and in `storage.waitlist`,
`storage.staffwork` and `storage.retention` (the use cases look each up on the module when they call it, so
`monkeypatch.setattr(module, name, fake)` for every listed name swaps all of storage).
"""

from __future__ import annotations

from chalicelib import settings
from chalicelib.storage import appointments as _appointments
from chalicelib.storage.appointments import (
    Booking,
    Change,
    Move,
    appointments_of_people,
    appointments_of_people_page,
    appointments_of_timebook,
    appointments_of_timebook_page,
    book,
    change_appointment,
    get_appointment,
    mark_reminded,
)
from chalicelib.storage.catalog import (
    add_location,
    change_timebook_settings,
    create_health_contact,
    create_timebook,
    get_health_contact,
    get_timebook,
    list_health_contacts,
    list_timebooks,
    set_slot_minutes,
)
from chalicelib.storage.holds import (
    HoldWrite,
    forget_hold,
    get_person,
    read_hold_state,
    read_person_and_gate,
    read_slot_and_person,
    release_place,
    take_hold,
)
from chalicelib.storage.idempotency import (
    get_idempotency,
)
from chalicelib.storage.inbox import (
    add_inbox_message,
    inbox_of,
    inbox_page,
)
from chalicelib.storage.models import ALL_MODELS, forget_client, region, table_name
from chalicelib.storage.slots import (
    create_slots,
    get_slot,
    get_slots,
    invalidate_summary,
    query_slots,
    query_summaries,
    refresh_summaries,
    slots_between,
    slots_of_day,
    tidy_expired_holds,
)
from chalicelib.storage.transactions import ConditionFailed

_prepare_appointment = _appointments.prepare_appointment  # tests index items they write by it

__all__ = [
    "Booking",
    "Change",
    "ConditionFailed",
    "HoldWrite",
    "Move",
    "add_inbox_message",
    "add_location",
    "appointments_of_people",
    "appointments_of_people_page",
    "appointments_of_timebook",
    "appointments_of_timebook_page",
    "book",
    "change_appointment",
    "change_timebook_settings",
    "create_health_contact",
    "create_slots",
    "create_timebook",
    "forget_hold",
    "get_appointment",
    "get_health_contact",
    "get_idempotency",
    "get_person",
    "get_slot",
    "get_slots",
    "get_timebook",
    "inbox_of",
    "inbox_page",
    "invalidate_summary",
    "list_health_contacts",
    "list_timebooks",
    "mark_reminded",
    "query_slots",
    "query_summaries",
    "read_hold_state",
    "read_person_and_gate",
    "read_slot_and_person",
    "refresh_summaries",
    "release_place",
    "reset_connections",
    "set_slot_minutes",
    "slots_between",
    "slots_of_day",
    "take_hold",
    "tidy_expired_holds",
]


def reset_connections() -> None:
    """Forget cached clients and re-read the table name and region from the environment, e.g.
    after AWS_ENDPOINT_URL or TABLE_NAME changed (tests, the local runner)."""
    for model in ALL_MODELS:
        model.Meta.table_name = table_name()
        model.Meta.region = region()
        model._connection = None
    forget_client()


settings.on_reset(reset_connections)
