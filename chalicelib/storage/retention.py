"""Personal data's lifetime in the table (issue 23): the records that name a person, found by a
paged Scan that goes on where the last run stopped, and their erasure, one record at a time.

Why a Scan: a person's id sits in keys that no index lists by age (Idempotency-Keys, a person's
lanes, inbox partitions, slot claims), and TTL deletes days late (moto never). The Scan reads
`limit` items a step, keeps its position in one item, and starts over when it reaches the end: a
bounded cost per run, and every record is looked at once per cycle. Deciding what is due is the
domain's (`PersonalRecord.due`); each erasure is conditioned on the record being as it was read, so
a racing write wins and the record is looked at again next cycle.

No erasure writes an event: an erased appointment loses its `ev` in the same update, so its
stream record carries none and the relay (messaging/relay.py) sends nothing to the inbox or to
Helsenorge; deletions are REMOVE records, which the relay never sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.models import Model

from chalicelib.domain.model import AuditRecord
from chalicelib.domain.retention import ERASED, PersonalRecord, RecordKind, erased_audit
from chalicelib.storage import keys, mapping
from chalicelib.storage.models import (
    AppointmentItem,
    AuditItem,
    EventItem,
    IdempotencyItem,
    InboxMessageItem,
    MarkerItem,
    PersonItem,
    SlotItem,
    WaitlistEntryItem,
    WaitlistGuardItem,
    plain,
)
from chalicelib.storage.transactions import get_item, is_condition_failure

# The names a fake replaces (storage/repository.py says how).
__all__ = [
    "audit_about",
    "erase_record",
    "personal_records",
    "retention_position",
    "save_retention_position",
]

_KINDS_BY_SORT: dict[str, RecordKind] = {
    "AP": "appointment",
    "WL": "waitlist_entry",
    "PT": "person",
    "SLOT": "slot",
    "IDEM": "idempotency",
    "EV": "event",
    "SMS": "sms",  # an SMS mark: a deferred one names its person and text (storage/sms.py)
    "SMSQ": "sms",  # a person's SMS count of a day: its key names the person
}
_AUDIT = "AUDIT#"
_NEVER = datetime.max.replace(tzinfo=UTC)
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def _at(epoch: Any) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def _ref(item: Model, seen: Any) -> str:
    """The record's keys and what it was when listed (`seen`): an erasure first checks that the
    record is still as listed (a person who took a new hold, a reused Idempotency-Key), since what
    made it due may have changed; the conditional write then guards the rest of the way."""
    return json.dumps([item.pk, item.sk, seen], sort_keys=True, default=str)


def _keys(ref: str) -> tuple[str, str, Any]:
    pk, sk, seen = json.loads(ref)
    return str(pk), str(sk), seen


def _same(seen: Any, now: Any) -> bool:
    return json.loads(json.dumps(now, sort_keys=True, default=str)) == seen


def _person_state(item: PersonItem) -> list[Any]:
    lanes = {n: [plain(lane).get("ref"), plain(lane).get("ends_at")] for n, lane in plain(item.lanes).items()}
    return [item.hold, item.hold_expires_at, lanes]


def _claim_refs(item: SlotItem) -> dict[str, Any]:
    return {n: plain(claim).get("ref") for n, claim in plain(item.places).items()}


# ---- what names a person, and when its purpose ended ------------------------------------------


def _appointment(item: AppointmentItem) -> PersonalRecord | None:
    if item.for_pid == ERASED:
        return None
    return PersonalRecord(
        "appointment", _ref(item, item.version), plain(item.timebook).get("id", ""), datetime.fromisoformat(item.end)
    )


def _entry(item: WaitlistEntryItem) -> PersonalRecord | None:
    if item.for_pid == ERASED or item.status in ("waiting", "offered"):
        return None  # a live entry is kept whatever its age: the person still waits
    return PersonalRecord("waitlist_entry", _ref(item, item.version), item.timebook_id, _utc(item.updated_at))


def _person(item: PersonItem) -> PersonalRecord:
    """Its lanes and hold say until when it mattered; an empty one says nothing and goes at once."""
    ends = [int(lane.get("ends_at") or 0) for lane in plain(item.lanes).values()]
    if item.hold_expires_at is not None:
        ends.append(int(item.hold_expires_at))
    timebook_id = item.pk.split("#")[1] if ends else ""
    return PersonalRecord("person", _ref(item, _person_state(item)), timebook_id, _at(max(ends)) if ends else _LONG_AGO)


def _slot(item: SlotItem) -> PersonalRecord | None:
    claims = plain(item.places).values()
    if all(plain(claim).get("owner") == ERASED for claim in claims):
        return None
    return PersonalRecord("slot", _ref(item, _claim_refs(item)), item.timebook_id, datetime.fromisoformat(item.end))


def _audit_state(item: AuditItem) -> list[Any]:
    return [item.actor, item.target, plain(item.detail)]


def _audit(item: AuditItem) -> PersonalRecord | None:
    """Listed only while it names a person (domain's `erased_audit`): a staff action stays as is."""
    if erased_audit(mapping.audit_record(item)) is None:
        return None
    timebook_id = item.pk.removeprefix(_AUDIT)
    return PersonalRecord("audit", _ref(item, _audit_state(item)), timebook_id, _utc(item.at))


def _expiring(kind: RecordKind, item: IdempotencyItem | EventItem | MarkerItem) -> PersonalRecord:
    ends = _at(item.ttl) if item.ttl is not None else _NEVER
    return PersonalRecord(kind, _ref(item, item.ttl), "", ends)


def _utc(text: str) -> datetime:
    found = datetime.fromisoformat(text)
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _record(raw: dict[str, Any]) -> PersonalRecord | None:
    pk, sk = raw["pk"]["S"], raw["sk"]["S"]
    if pk.startswith(_AUDIT):
        return _audit(AuditItem.from_raw_data(raw))
    kind = _KINDS_BY_SORT.get(sk)
    if kind == "appointment":
        return _appointment(AppointmentItem.from_raw_data(raw))
    if kind == "waitlist_entry":
        return _entry(WaitlistEntryItem.from_raw_data(raw))
    if kind == "person":
        return _person(PersonItem.from_raw_data(raw))
    if kind == "slot":
        return _slot(SlotItem.from_raw_data(raw))
    if kind == "idempotency":
        return _expiring(kind, IdempotencyItem.from_raw_data(raw))
    if kind == "event":
        return _expiring(kind, EventItem.from_raw_data(raw))
    if kind == "sms":
        return _expiring(kind, MarkerItem.from_raw_data(raw))
    return None


def _kinds_that_name_people() -> Condition:
    return AppointmentItem.sk.is_in(*_KINDS_BY_SORT) | AuditItem.pk.startswith(_AUDIT)


def personal_records(position: str | None, limit: int) -> tuple[list[PersonalRecord], str | None]:
    """One step of the Scan: the records among the next `limit` items that still name a person
    (erased ones are left out), and where the next step starts (None: the end of the table)."""
    start = json.loads(position) if position else None
    answer = AppointmentItem._get_connection().scan(
        filter_condition=_kinds_that_name_people(), limit=limit, exclusive_start_key=start
    )
    found = [record for record in map(_record, answer.get("Items", [])) if record is not None]
    last = answer.get("LastEvaluatedKey")
    return found, (json.dumps(last, sort_keys=True) if last else None)


def retention_position() -> str | None:
    pk, sk = keys.retention_position()
    item = get_item(MarkerItem, pk, sk, consistent=True)
    return (item.state or None) if item is not None else None


def save_retention_position(position: str | None) -> None:
    pk, sk = keys.retention_position()
    MarkerItem(pk, sk, state=position or "").save()


# ---- erasure --------------------------------------------------------------------------------------


def erase_record(record: PersonalRecord) -> bool:
    """Erase what names a person in this record; False if it was erased already, is gone, or
    changed since it was read (then it is looked at again on the next cycle)."""
    try:
        return _ERASERS[record.kind](*_keys(record.ref))
    except (UpdateError, DeleteError) as error:
        if is_condition_failure(error):
            return False
        raise


def _erase_appointment(pk: str, sk: str, seen: Any) -> bool:
    item = get_item(AppointmentItem, pk, sk, consistent=True)
    if item is None or item.for_pid == ERASED or not _same(seen, item.version):
        return False
    # Its messages first: once the appointment no longer names the person, their inbox is unknown.
    _delete_messages(item.id, (item.for_pid, item.booked_by))
    item.update(
        actions=[
            AppointmentItem.for_pid.set(ERASED),
            AppointmentItem.for_name.set(""),
            AppointmentItem.booked_by.set(ERASED),
            AppointmentItem.booked_by_name.set(""),
            AppointmentItem.phone.set(""),
            AppointmentItem.description.set(""),
            AppointmentItem.answers.set([]),
            AppointmentItem.reason.remove(),  # staff's free text may name someone
            AppointmentItem.gsi1pk.remove(),  # the person's index entry: their id is in it
            AppointmentItem.gsi1sk.remove(),
            AppointmentItem.event.remove(),  # no stream event: the relay sends nothing for this
        ],
        condition=(AppointmentItem.version == item.version) & (AppointmentItem.for_pid == item.for_pid),
    )
    return True


def _erase_entry(pk: str, sk: str, seen: Any) -> bool:
    item = get_item(WaitlistEntryItem, pk, sk, consistent=True)
    if item is None or item.for_pid == ERASED or not _same(seen, item.version):
        return False
    _delete_messages(item.id, (item.for_pid, item.owner))  # its offers' messages carry its id
    guard_pk, guard_sk = keys.waitlist_guard(item.timebook_id, item.for_pid)
    _delete_if(WaitlistGuardItem(guard_pk, guard_sk), WaitlistGuardItem.entry_id == item.id)
    item.update(
        actions=[
            WaitlistEntryItem.for_pid.set(ERASED),
            WaitlistEntryItem.owner.set(ERASED),
            WaitlistEntryItem.offer.remove(),
            WaitlistEntryItem.gsi1pk.remove(),
            WaitlistEntryItem.gsi1sk.remove(),
        ],
        condition=(WaitlistEntryItem.version == item.version) & (WaitlistEntryItem.for_pid == item.for_pid),
    )
    return True


def _erase_person(pk: str, sk: str, seen: Any) -> bool:
    """Deleted only as read: a new hold or lane since then (another key, another ref, another
    count) makes the condition fail."""
    item = get_item(PersonItem, pk, sk, consistent=True)
    if item is None or not _same(seen, _person_state(item)):
        return False
    lanes = plain(item.lanes)
    condition = PersonItem.pk.exists()
    condition &= PersonItem.hold.does_not_exist() if item.hold is None else PersonItem.hold == item.hold
    if item.hold_expires_at is None:
        condition &= PersonItem.hold_expires_at.does_not_exist()
    else:
        condition &= PersonItem.hold_expires_at == item.hold_expires_at
    condition &= PersonItem.lanes.does_not_exist() | (size(PersonItem.lanes) == len(lanes))
    for number, lane in lanes.items():
        condition &= PersonItem.lanes[number]["ref"] == plain(lane).get("ref")
    item.delete(condition=condition)
    return True


def _erase_slot(pk: str, sk: str, seen: Any) -> bool:
    """A past slot keeps its claims (the places that were taken) without whose they were."""
    item = get_item(SlotItem, pk, sk, consistent=True)
    if item is None or not _same(seen, _claim_refs(item)):
        return False
    actions, condition = [], SlotItem.pk.exists()
    for number, raw in plain(item.places).items():
        claim = plain(raw)
        if claim.get("owner") != ERASED:
            actions.append(SlotItem.places[number]["owner"].set(ERASED))
            condition &= SlotItem.places[number]["ref"] == claim.get("ref")
    if not actions:
        return False
    item.update(actions=actions, condition=condition)
    return True


def _erase_audit(pk: str, sk: str, seen: Any) -> bool:
    """The actor erased unless staff, national ids in target and detail replaced (domain's rule)."""
    item = get_item(AuditItem, pk, sk, consistent=True)
    if item is None or not _same(seen, _audit_state(item)):
        return False
    erased = erased_audit(mapping.audit_record(item))
    if erased is None:
        return False
    item.update(
        actions=[
            AuditItem.actor.set(erased.actor),
            AuditItem.target.set(erased.target),
            AuditItem.detail.set(erased.detail),
        ],
        condition=(AuditItem.actor == item.actor) & (AuditItem.target == item.target),
    )
    return True


def _expired_by_ttl(
    model: type[IdempotencyItem] | type[EventItem] | type[MarkerItem],
) -> Callable[[str, str, Any], bool]:
    def erase(pk: str, sk: str, seen: Any) -> bool:
        item = get_item(model, pk, sk, consistent=True)
        if item is None or not _same(seen, item.ttl):
            return False
        # A key used again since it was read has a new ttl: the condition keeps it.
        return _delete_if(item, model.ttl == item.ttl)

    return erase


def _delete_if(item: Model, condition: Condition) -> bool:
    try:
        item.delete(condition=condition)
    except DeleteError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def _delete_messages(about_id: str, pids: Iterable[str]) -> None:
    """The inbox messages about one appointment or waitlist entry, in the inboxes of these people."""
    for pid in dict.fromkeys(p for p in pids if p and p != ERASED):
        for message in InboxMessageItem.query(
            keys.inbox(pid), filter_condition=InboxMessageItem.appointment_id == about_id
        ):
            _delete_if(message, InboxMessageItem.pk.exists())


_ERASERS: dict[str, Callable[[str, str, Any], bool]] = {
    "appointment": _erase_appointment,
    "waitlist_entry": _erase_entry,
    "person": _erase_person,
    "slot": _erase_slot,
    "audit": _erase_audit,
    "idempotency": _expired_by_ttl(IdempotencyItem),
    "event": _expired_by_ttl(EventItem),
    "sms": _expired_by_ttl(MarkerItem),
}


# ---- the citizen's copy ---------------------------------------------------------------------------


AUDIT_PAGE = 500
AUDIT_READ_AT_MOST = 5000  # audit records read per call and timebook: one token cannot read a whole log


def audit_about(timebook_id: str, targets: Iterable[str], limit: int = 200) -> tuple[list[AuditRecord], bool]:
    """Audit records of one timebook about these appointments, newest first, at most `limit`;
    and whether all were looked at (False: the log is longer than one call reads)."""
    wanted = sorted(set(targets))
    found: list[AuditRecord] = []
    complete = True
    for start in range(0, len(wanted), 100):  # IN takes at most 100 values
        query = AuditItem.query(
            keys.audit_log(timebook_id),
            scan_index_forward=False,
            filter_condition=AuditItem.target.is_in(*wanted[start : start + 100]),
            page_size=AUDIT_PAGE,
        )
        for page in query.page_iter:  # page by page: a filter that matches little still stops
            found.extend(mapping.audit_record(AuditItem.from_raw_data(raw)) for raw in page.get("Items", []))
            if len(found) >= limit or query.page_iter.total_scanned_count >= AUDIT_READ_AT_MOST:
                complete = complete and query.page_iter.last_evaluated_key is None and len(found) <= limit
                break
    return sorted(found, key=lambda r: r.at, reverse=True)[:limit], complete
