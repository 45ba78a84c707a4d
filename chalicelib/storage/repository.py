"""Everything that reads or writes DynamoDB, and the guarded writes that keep the invariants.

Nothing else in Timebok talks to DynamoDB. The writes that take a place in a slot state the
capacity rule (domain/capacity.py) as their condition; the write that turns a hold into an
appointment states the hold rule (domain/holds.py). No read-then-write decides anything: reads
only choose which place to try, and the conditional write decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib import settings
from chalicelib.clock import OSLO
from chalicelib.domain.availability import SlotSummary, empty, summarize
from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.limits import Lane
from chalicelib.domain.paging import PageRequest, Position
from chalicelib.domain.slots import SlotRef
from chalicelib.errors import Unavailable
from chalicelib.storage import keys
from chalicelib.storage.models import (
    ALL_MODELS,
    AppointmentItem,
    AuditItem,
    DaySummaryItem,
    EventItem,
    HealthContactItem,
    HerIdItem,
    IdempotencyItem,
    InboxMessageItem,
    PersonItem,
    SlotItem,
    TimebookItem,
    plain,
    region,
    table_name,
)


class ConditionFailed(Exception):
    """A guarded write lost: its condition did not hold. `failed` names which part lost."""

    def __init__(self, failed: Sequence[str]) -> None:
        super().__init__(", ".join(failed))
        self.failed = list(failed)


def _connection() -> Connection:
    """The models' own connection, for transactions and batch reads: the same short
    connect/read timeouts, retries and pool size as every other request (models._Meta), in the
    table's region. (A Connection of its own would take botocore's 60 s defaults.)"""
    return SlotItem._get_connection().connection


def reset_connections() -> None:
    """Forget cached clients and re-read the table name and region from the environment, e.g.
    after AWS_ENDPOINT_URL or TABLE_NAME changed (tests, the local runner)."""
    for model in ALL_MODELS:
        model.Meta.table_name = table_name()
        model.Meta.region = region()
        model._connection = None


settings.on_reset(reset_connections)


def _is_condition_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


class _Transaction:
    """A TransactWrite whose parts carry names, so a cancellation says which condition lost.

    PynamoDB sends condition checks, deletes, puts and updates in that order, whatever order
    they were added in; the names follow the same order.
    """

    def __init__(self) -> None:
        self._tx = TransactWrite(connection=_connection())
        self._names: dict[str, list[str]] = {"delete": [], "put": [], "update": []}

    def save(self, name: str, item: Any, condition: Condition | None = None) -> None:
        self._tx.save(item, condition=condition)
        self._names["put"].append(name)

    def update(self, name: str, item: Any, actions: list[Any], condition: Condition | None = None) -> None:
        assert actions, name
        self._tx.update(item, actions=actions, condition=condition)
        self._names["update"].append(name)

    def commit(self) -> None:
        try:
            with self._tx:
                pass
        except TransactWriteError as error:
            names = self._names["delete"] + self._names["put"] + self._names["update"]
            raise ConditionFailed(_failed_parts(error, names)) from error


# ---- health contacts and timebooks ---------------------------------------------------------


def create_health_contact(item: HealthContactItem) -> None:
    """The HER-id guard and the health contact are written together: a HER-id is registered once."""
    item.pk, item.sk = keys.health_contact(item.id)
    item.gsi1pk, item.gsi1sk = keys.HEALTH_CONTACTS, f"{item.name}#{item.id}"
    guard_pk, guard_sk = keys.her_id(item.her_id)
    guard = HerIdItem(guard_pk, guard_sk, health_contact_id=item.id)
    tx = _Transaction()
    tx.save("her_id", guard, HerIdItem.pk.does_not_exist())
    tx.save("health_contact", item, HealthContactItem.pk.does_not_exist())
    tx.commit()  # throttling or a fault is raised as such (429/503), never as "taken"


def list_health_contacts() -> list[HealthContactItem]:
    return list(HealthContactItem.by_name.query(keys.HEALTH_CONTACTS))


def get_health_contact(hc_id: str) -> HealthContactItem | None:
    pk, sk = keys.health_contact(hc_id)
    return _get(HealthContactItem, pk, sk)


def create_timebook(item: TimebookItem) -> None:
    item.pk, item.sk = keys.timebook(item.id)
    item.gsi1pk, item.gsi1sk = keys.timebooks_of(item.health_contact_id), f"{item.name}#{item.id}"
    item.save(condition=TimebookItem.pk.does_not_exist())


def list_timebooks(hc_id: str) -> list[TimebookItem]:
    return list(TimebookItem.by_health_contact.query(keys.timebooks_of(hc_id)))


def get_timebook(timebook_id: str) -> TimebookItem | None:
    pk, sk = keys.timebook(timebook_id)
    return _get(TimebookItem, pk, sk)


def add_location(timebook: TimebookItem, location: dict[str, str]) -> None:
    timebook.update(
        actions=[TimebookItem.locations.set(TimebookItem.locations.append([location]))],
        condition=TimebookItem.pk.exists(),
    )


def set_slot_minutes(timebook: TimebookItem, slot_minutes: int) -> None:
    timebook.update(actions=[TimebookItem.slot_minutes.set(slot_minutes)])


def _get(model: type, pk: str, sk: str, consistent: bool = False):  # type: ignore[no-untyped-def]
    try:
        return model.get(pk, sk, consistent_read=consistent)
    except model.DoesNotExist:
        return None


# ---- slots ----------------------------------------------------------------------------------


def query_summaries(
    timebook_id: str, month: str, *, day: date | None = None, from_day: date | None = None
) -> Iterator[DaySummaryItem]:
    """Availability summaries of one timebook-month, by date then location; optionally of one
    day or from a day on. One Query of one partition; its cost depends on how many slots the
    month has, not on how many are taken."""
    partition = keys.summary_partition(timebook_id, month)
    condition = None
    if day is not None:
        condition = DaySummaryItem.sk.startswith(keys.summary_sort(day.isoformat()) + "#")
    elif from_day is not None:
        condition = DaySummaryItem.sk >= keys.summary_sort(from_day.isoformat())
    return DaySummaryItem.query(partition, condition)


def summary_refs(summary: DaySummaryItem) -> list[SlotRef]:
    """The slots a summary lists, by start."""
    day = date.fromisoformat(summary.date)
    return [
        SlotRef(summary.timebook_id, summary.location_id, entry.local_start(day), entry.fold)
        for entry in summary_entries(summary)
    ]


def summary_entries(summary: DaySummaryItem) -> list[SlotSummary]:
    return [SlotSummary.from_item(hhmm, entry) for hhmm, entry in sorted(plain(summary.slots).items())]


def refresh_summaries(summaries: Sequence[DaySummaryItem], now_epoch: int, now_ms: int) -> None:
    """Recount the slots of these summaries (one BatchGetItem per 100 slots) and store the result
    unless slots were added meanwhile (`version`); the summaries are updated in place either way."""
    refs = [ref for summary in summaries for ref in summary_refs(summary)]
    by_id = {slot.slot_id: slot for slot in get_slots(refs)}
    for summary in summaries:
        entries = {}
        for old, ref in zip(summary_entries(summary), summary_refs(summary), strict=True):
            slot = by_id.get(ref.slot_id)
            if slot is None:  # listed before it was written (add_schedule writes slots first): none free
                entries[old.hhmm] = SlotSummary(old.hhmm, old.capacity, old.minutes, old.capacity, ()).as_item()
                continue
            capacity = 0 if slot.closed else int(slot.capacity)  # a closed slot offers nothing
            counted = summarize(old.hhmm, capacity, old.minutes, claims_of(slot), now_epoch)
            entries[old.hhmm] = counted.as_item()
        try:
            summary.update(
                actions=[DaySummaryItem.slots.set(entries), DaySummaryItem.refreshed_at.set(now_ms)],
                condition=DaySummaryItem.version == int(summary.version or 0),
            )
        except UpdateError as error:
            if not _is_condition_failure(error):
                raise
            summary.slots, summary.refreshed_at = entries, now_ms  # ours is still a fresh count


def invalidate_summary(timebook_id: str, day: date, location_id: str) -> None:
    """Make the next reader recount a day (after a change that bypasses the places map, such as
    a capacity edit or a closure)."""
    pk, sk = keys.day_summary(timebook_id, day, location_id)
    with contextlib.suppress(UpdateError):
        DaySummaryItem(pk, sk).update(
            actions=[DaySummaryItem.refreshed_at.set(0)], condition=DaySummaryItem.pk.exists()
        )


def get_slots(refs: Sequence[SlotRef], consistent: bool = False) -> list[SlotItem]:
    """The slots named, in the order named (missing ones left out); BatchGetItem of 100 at a time."""
    if not refs:
        return []
    wanted = {keys.slot(ref): ref.slot_id for ref in refs}
    found: dict[str, SlotItem] = {}
    for slot in SlotItem.batch_get(list(wanted), consistent_read=consistent):
        if wanted.get((slot.pk, slot.sk)) == slot.slot_id:
            found[slot.slot_id] = slot
    return [found[ref.slot_id] for ref in refs if ref.slot_id in found]


def slots_of_day(
    timebook_id: str, day: date, location_id: str | None = None, consistent: bool = False
) -> list[SlotItem]:
    """Every slot of a timebook on one day (optionally of one location), by start then location:
    the day's summaries name them, one BatchGetItem reads them."""
    return slots_between(timebook_id, day, day, location_id, consistent)


def slots_between(
    timebook_id: str, from_day: date, to_day: date, location_id: str | None = None, consistent: bool = False
) -> list[SlotItem]:
    """Every slot of a timebook from one day to another (both included), by start then location."""
    refs: list[SlotRef] = []
    month = date(from_day.year, from_day.month, 1)
    while month <= to_day:
        for summary in query_summaries(timebook_id, f"{month:%Y-%m}", from_day=from_day):
            if summary.date > to_day.isoformat():
                break
            if location_id is None or summary.location_id == location_id:
                refs.extend(summary_refs(summary))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return sorted(get_slots(refs, consistent), key=lambda s: (s.start, s.location_id))


def query_slots(
    timebook_id: str,
    month: str,
    *,
    day: date | None = None,
    from_day: date | None = None,
    page_size: int | None = None,
) -> Iterator[SlotItem]:
    """Slots of one timebook-month in start order; optionally of one day or from a day on
    (`page_size` is accepted for callers of the old layout and ignored)."""
    first = date.fromisoformat(f"{month}-01")
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
    if day is not None:
        first = last = day
    elif from_day is not None:
        first = max(first, from_day)
    return iter(slots_between(timebook_id, first, last) if first <= last else [])


def get_slot(ref: SlotRef, consistent: bool = False) -> SlotItem | None:
    pk, sk = keys.slot(ref)
    slot = _get(SlotItem, pk, sk, consistent)
    if slot is not None and slot.slot_id != ref.slot_id:
        return None
    return slot


def create_slots(slots: Sequence[SlotItem]) -> int:
    """Create the slots that do not exist yet, then list them in their day summaries; returns
    how many slots were made.

    Existing slots are never overwritten (they carry claims): each put is conditional, in
    transactions of 100 (one guarded put each if a concurrent post made some). Summaries are
    written after the slots and only add entries that are missing, so posting the same window
    again repairs a summary a crash left short and changes nothing else.
    """
    if not slots:
        return 0
    created = 0
    for start in range(0, len(slots), 100):
        chunk = slots[start : start + 100]
        try:
            with TransactWrite(connection=_connection()) as tx:
                for slot in chunk:
                    tx.save(slot, condition=SlotItem.pk.does_not_exist())
            created += len(chunk)
        except TransactWriteError:
            for slot in chunk:
                try:
                    slot.save(condition=SlotItem.pk.does_not_exist())
                    created += 1
                except PutError as error:
                    if not _is_condition_failure(error):
                        raise
    _list_in_summaries(slots)
    return created


def _list_in_summaries(slots: Sequence[SlotItem]) -> None:
    by_day: dict[tuple[str, str, str], dict[str, SlotSummary]] = {}
    for slot in slots:
        start, end = datetime.fromisoformat(slot.start), datetime.fromisoformat(slot.end)
        local = start.astimezone(OSLO)
        minutes = round((end - start).total_seconds() / 60)  # real minutes (slots are stepped in UTC)
        entry = empty(f"{local:%H%M}{'f' if local.fold else ''}", int(slot.capacity), minutes)
        by_day.setdefault((slot.timebook_id, local.date().isoformat(), slot.location_id), {})[entry.hhmm] = entry
    for (timebook_id, day, location_id), entries in by_day.items():
        pk, sk = keys.day_summary(timebook_id, date.fromisoformat(day), location_id)
        item = DaySummaryItem(pk, sk)
        item.update(
            actions=[
                DaySummaryItem.slots.set(DaySummaryItem.slots | {}),
                DaySummaryItem.timebook_id.set(timebook_id),
                DaySummaryItem.location_id.set(location_id),
                DaySummaryItem.date.set(day),
                DaySummaryItem.version.add(1),
            ]
        )
        names = sorted(entries)
        for first in range(0, len(names), 50):  # stays well inside DynamoDB's expression limits
            item.update(
                actions=[
                    DaySummaryItem.slots[name].set(DaySummaryItem.slots[name] | entries[name].as_item())
                    for name in names[first : first + 50]
                ]
            )


def claims_of(slot: SlotItem) -> dict[int, Claim]:
    raw = plain(slot.places)
    return {int(place): Claim.from_item(claim) for place, claim in raw.items()}


def _place(place: int):  # type: ignore[no-untyped-def]
    return SlotItem.places[str(place)]


def _place_is_free(place: int, now_epoch: int) -> Condition:
    """The capacity rule of domain/capacity.py as a DynamoDB condition."""
    claim = _place(place)
    return (
        SlotItem.pk.exists()
        & (SlotItem.capacity > place)
        & (SlotItem.closed.does_not_exist() | (SlotItem.closed == False))  # noqa: E712 (a condition)
        & (claim.does_not_exist() | (claim["expires_at"] <= now_epoch))
    )


def _hold_is_live_and_owned(place: int, hold_id: str, owner: str, now_epoch: int) -> Condition:
    """The hold rule of domain/holds.py as a DynamoDB condition."""
    claim = _place(place)
    return (
        (claim["ref"] == hold_id)
        & (claim["owner"] == owner)
        & (claim["expires_at"] > now_epoch)
        # A slot staff closed takes no new bookings, not even from a hold taken before (issue 13).
        & (SlotItem.closed.does_not_exist() | (SlotItem.closed == False))  # noqa: E712
    )


def _claim_is(place: int, ref: str) -> Condition:
    return _place(place)["ref"] == ref


def _slot_key_item(ref: SlotRef) -> SlotItem:
    pk, sk = keys.slot(ref)
    return SlotItem(pk, sk)


# ---- people: one live hold, and the per-person limit -------------------------------------------


def _person_key_item(timebook_id: str, pid: str) -> PersonItem:
    pk, sk = keys.person(timebook_id, pid)
    return PersonItem(pk, sk)


def _lane(lane: int):  # type: ignore[no-untyped-def]
    return PersonItem.lanes[str(lane)]


def _lane_is_free(lane: int, now_epoch: int) -> Condition:
    """The per-person rule of domain/limits.py as a DynamoDB condition."""
    return _lane(lane).does_not_exist() | (_lane(lane)["ends_at"] <= now_epoch)


def lanes_of(person: PersonItem | None) -> dict[int, Lane]:
    if person is None:
        return {}
    return {int(n): Lane.from_item(lane) for n, lane in plain(person.lanes).items()}


def read_slot_and_person(ref: SlotRef, pid: str) -> tuple[SlotItem | None, PersonItem | None]:
    """The slot and the person (in this slot's timebook) in one consistent BatchGetItem."""
    slot_key, person_key = keys.slot(ref), keys.person(ref.timebook_id, pid)
    wanted = [slot_key, person_key]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(3):
        raw_keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted]
        answer = _connection().dispatch(
            "BatchGetItem", {"RequestItems": {table_name(): {"Keys": raw_keys, "ConsistentRead": True}}}
        )
        for item in answer.get("Responses", {}).get(table_name(), []):
            found[(item["pk"]["S"], item["sk"]["S"])] = item
        left = answer.get("UnprocessedKeys", {}).get(table_name(), {}).get("Keys", [])
        wanted = [(k["pk"]["S"], k["sk"]["S"]) for k in left]
        if not wanted:
            break
    if wanted:
        raise Unavailable()
    slot = SlotItem.from_raw_data(found[slot_key]) if slot_key in found else None
    if slot is not None and slot.slot_id != ref.slot_id:
        slot = None
    person = PersonItem.from_raw_data(found[person_key]) if person_key in found else None
    return slot, person


@dataclass
class PersonSeen:
    """A person item as read: the write that changes it is conditioned on what was seen."""

    timebook_id: str
    pid: str
    exists: bool
    hold: str | None


def person_seen(timebook_id: str, pid: str, person: PersonItem | None) -> PersonSeen:
    return PersonSeen(timebook_id, pid, person is not None, person.hold if person is not None else None)


def _person_part(
    tx: _Transaction,
    seen: PersonSeen,
    now_epoch: int,
    *,
    set_hold: tuple[str, int] | None = None,
    clear_hold: bool = False,
    lane: tuple[int, Lane] | None = None,
    lane_free: int | None = None,
) -> None:
    """The person's part of a hold or booking: their hold is still the one seen (so two holds
    at once cannot both win: one live hold per person), and the lane taken is free."""
    if not seen.exists:
        pk, sk = keys.person(seen.timebook_id, seen.pid)
        item = PersonItem(pk, sk, lanes={})
        if set_hold:
            item.hold, item.hold_expires_at = set_hold
        if lane:
            item.lanes = {str(lane[0]): lane[1].as_item()}
        tx.save("person", item, PersonItem.pk.does_not_exist())
        return
    actions: list[Any] = []
    condition = PersonItem.pk.exists()
    condition &= (PersonItem.hold == seen.hold) if seen.hold else PersonItem.hold.does_not_exist()
    if set_hold:
        actions += [PersonItem.hold.set(set_hold[0]), PersonItem.hold_expires_at.set(set_hold[1])]
    elif clear_hold:
        actions += [PersonItem.hold.remove(), PersonItem.hold_expires_at.remove()]
    if lane:
        actions.append(_lane(lane[0]).set(lane[1].as_item()))
        condition &= _lane_is_free(lane[0], now_epoch)
    elif lane_free is not None:
        condition &= _lane_is_free(lane_free, now_epoch)
    tx.update("person", _person_key_item(seen.timebook_id, seen.pid), actions, condition)


@dataclass
class HoldWrite:
    """Everything the hold transaction writes (see `take_hold`)."""

    slot: SlotRef
    place: int
    claim: Claim
    person: PersonSeen
    free_old: tuple[SlotRef, int, str] | None = None  # the replaced live hold: slot, place, id
    lane: int | None = None  # a lane the person must still have free (the per-person limit)
    idempotency: IdempotencyItem | None = None


def take_hold(write: HoldWrite, now_epoch: int) -> None:
    """One transaction: take a free place by the capacity rule, free the person's previous live
    hold, and make the new one their hold, if their hold is still the one read and a lane is
    free. Raises ConditionFailed naming what lost: place, old, person, idempotency, conflict."""
    tx = _Transaction()
    # No sweep index entry (gsi2 `SWEEP#n`) for a citizen's hold: an expired hold is free by the
    # capacity rule and the next claim of its place overwrites it, and the places map is bounded
    # by the capacity, so tidying it bought nothing but 1 WCU on the hold and 1 on the booking.
    # Waitlist offers still carry it (storage/waitlist.py): the sweep moves lapsed offers on.
    actions = [_place(write.place).set(write.claim.as_item())]
    condition = _place_is_free(write.place, now_epoch)
    if write.free_old is not None:
        old_ref, old_place, old_id = write.free_old
        if old_ref.slot_id == write.slot.slot_id and old_place == write.place:
            condition = SlotItem.pk.exists() & _claim_is(old_place, old_id)  # the same place, held anew
        elif old_ref.slot_id == write.slot.slot_id:
            # The same item cannot be two parts of one transaction: one update does both.
            actions.append(_place(old_place).remove())
            condition &= _claim_is(old_place, old_id)
        else:
            tx.update("old", _slot_key_item(old_ref), [_place(old_place).remove()], _claim_is(old_place, old_id))
    tx.update("place", _slot_key_item(write.slot), actions, condition)
    _person_part(tx, write.person, now_epoch, set_hold=(write.claim.ref, write.claim.expires_at), lane_free=write.lane)
    if write.idempotency is not None:
        tx.save("idempotency", write.idempotency, _key_unused(now_epoch))
    tx.commit()


def release_place(ref: SlotRef, place: int, claim_ref: str, owner: str | None = None) -> None:
    """Free a place, but only if it still carries this claim (and, for holds, this owner)."""
    condition = _claim_is(place, claim_ref)
    if owner is not None:
        condition &= _place(place)["owner"] == owner
    try:
        _slot_key_item(ref).update(actions=[_place(place).remove()], condition=condition)
    except UpdateError as error:
        if _is_condition_failure(error):
            raise ConditionFailed(["place"]) from error
        raise


def forget_hold(timebook_id: str, pid: str, hold_id: str) -> None:
    """After a release: the person's pointer to that hold goes too (best effort; a stale pointer
    only costs the next hold one retry)."""
    try:
        _person_key_item(timebook_id, pid).update(
            actions=[PersonItem.hold.remove(), PersonItem.hold_expires_at.remove()],
            condition=PersonItem.hold == hold_id,
        )
    except UpdateError as error:
        if not _is_condition_failure(error):
            raise


def get_person(timebook_id: str, pid: str) -> PersonItem | None:
    pk, sk = keys.person(timebook_id, pid)
    return _get(PersonItem, pk, sk, consistent=True)


@dataclass
class Booking:
    """Everything the booking transaction writes (see `book`)."""

    appointment: AppointmentItem
    slot: SlotRef
    place: int
    owner: str
    hold_id: str | None
    event: dict[str, str]  # the appointment's event (booking/events.change_event), on the item
    person: PersonSeen
    lane: int | None = None
    idempotency: IdempotencyItem | None = None


def _prepare_appointment(item: AppointmentItem) -> None:
    item.pk, item.sk = keys.appointment(item.id)
    item.gsi1pk = keys.appointments_of_person(item.for_pid)
    item.gsi1sk = keys.appointment_sort(item.start, item.id)
    item.gsi2pk = keys.appointments_of_timebook(plain(item.timebook)["id"])
    item.gsi2sk = keys.appointment_sort(item.start, item.id)


def prepare_event(item: EventItem) -> EventItem:
    """A note that is not an appointment change: its key, and its `event` mark (what the stream
    filter and the relay look for)."""
    item.pk, item.sk = keys.event(item.event_id)
    item.event = {"k": item.kind}
    return item


def book(booking: Booking, now_epoch: int, ends_epoch: int) -> None:
    """The one guarded write that makes an appointment: place, person, appointment (carrying its
    event, which the table's stream takes to the relay), key.

    From a hold: the place must still carry this caller's live hold, and the person's hold must
    be that hold (it is cleared). Straight from a slot: the place must be free by the capacity
    rule. With a per-person limit the lane must be free by domain/limits.py. Nothing is read
    first: the conditions decide. Raises ConditionFailed naming what lost.
    """
    appointment = booking.appointment
    _prepare_appointment(appointment)
    appointment.event = booking.event
    claim = Claim("appointment", appointment.id, booking.owner, NEVER_EXPIRES)
    if booking.hold_id:
        condition = _hold_is_live_and_owned(booking.place, booking.hold_id, booking.owner, now_epoch)
    else:
        condition = _place_is_free(booking.place, now_epoch)
    tx = _Transaction()
    tx.update("place", _slot_key_item(booking.slot), [_place(booking.place).set(claim.as_item())], condition)
    tx.save("appointment", appointment, AppointmentItem.pk.does_not_exist())
    lane = (booking.lane, Lane(appointment.id, ends_epoch)) if booking.lane is not None else None
    if booking.hold_id or lane:
        _person_part(tx, booking.person, now_epoch, clear_hold=bool(booking.hold_id), lane=lane)
    if booking.idempotency is not None:
        tx.save("idempotency", booking.idempotency, _key_unused(now_epoch))
    tx.commit()


def _failed_parts(error: TransactWriteError, parts: Sequence[str]) -> list[str]:
    reasons = getattr(error, "cancellation_reasons", None) or []
    failed = [
        part
        for part, reason in zip(parts, reasons, strict=False)
        if reason is not None and getattr(reason, "code", None) == "ConditionalCheckFailed"
    ]
    if failed:
        return failed
    if any(getattr(r, "code", None) == "TransactionConflict" for r in reasons if r is not None):
        # Another transaction was writing the same item at that moment: a lost race, try again.
        return ["conflict"]
    if getattr(error, "cause_response_code", None) == "TransactionConflictException":
        return ["conflict"]
    raise error  # not a condition: throttling or a fault, let the caller map it (429/503)


@dataclass
class Change:
    """One appointment transition, written at once with the places it frees or takes.

    The appointment's condition is its current state and version, so of two concurrent
    transitions (two staff confirming, a cancel racing a confirm) exactly one is written.
    """

    appointment: AppointmentItem
    expected_status: Sequence[str]
    expected_version: int
    actions: list[Any]
    event: dict[str, str]  # the change's event (booking/events.change_event), written on the item
    free: tuple[SlotRef, int] | None = None  # the place the appointment gives back
    take: tuple[SlotRef, int, Claim] | None = None  # the place it moves to (reschedule)
    free_lane: bool = False  # it stops being active (cancel, reject): its lane is freed
    lane_ends_at: int | None = None  # it moves (reschedule): its lane now lasts until the new end
    audit: AuditItem | None = None  # a staff action's audit record, written with it


def change_appointment(change: Change, now_epoch: int) -> None:
    item = change.appointment
    tx = _Transaction()
    tx.update(
        "appointment",
        AppointmentItem(item.pk, item.sk),
        [
            *change.actions,
            AppointmentItem.version.set(change.expected_version + 1),
            AppointmentItem.event.set(change.event),
        ],
        AppointmentItem.status.is_in(*change.expected_status) & (AppointmentItem.version == change.expected_version),
    )
    if change.free is not None:
        ref, place = change.free
        tx.update("free", _slot_key_item(ref), [_place(place).remove()], _claim_is(place, item.id))
    lane = int(item.lane) if item.lane is not None else None
    if lane is not None and (change.free_lane or change.lane_ends_at is not None):
        person = _person_key_item(plain(item.timebook)["id"], item.for_pid)
        still_counts = _lane(lane)["ref"] == item.id
        if change.free_lane:
            tx.update("lane", person, [_lane(lane).remove()], still_counts)
        else:
            tx.update("lane", person, [_lane(lane)["ends_at"].set(change.lane_ends_at)], still_counts)
    if change.take is not None:
        ref, place, claim = change.take
        tx.update("take", _slot_key_item(ref), [_place(place).set(claim.as_item())], _place_is_free(place, now_epoch))
    if change.audit is not None:
        tx.save("audit", change.audit)
    tx.commit()


def appointment_key_actions(item: AppointmentItem, start_iso: str) -> list[Any]:
    """When an appointment moves, its index keys move with it."""
    sort = keys.appointment_sort(start_iso, item.id)
    return [AppointmentItem.gsi1sk.set(sort), AppointmentItem.gsi2sk.set(sort)]


def get_idempotency(owner: str, scope: str, key: str) -> IdempotencyItem | None:
    pk, sk = keys.idempotency(owner, scope, key)
    return _get(IdempotencyItem, pk, sk, consistent=True)


def new_idempotency(owner: str, scope: str, key: str, request_hash: str, result_id: str, ttl: int) -> IdempotencyItem:
    pk, sk = keys.idempotency(owner, scope, key)
    return IdempotencyItem(pk, sk, request_hash=request_hash, result_id=result_id, ttl=ttl)


def _key_unused(now_epoch: int) -> Condition:
    """An Idempotency-Key is free if never used, or used more than 24 h ago (TTL deletes late)."""
    return IdempotencyItem.pk.does_not_exist() | (IdempotencyItem.ttl <= now_epoch)


# ---- appointments ---------------------------------------------------------------------------


def get_appointment(appointment_id: str, consistent: bool = False) -> AppointmentItem | None:
    pk, sk = keys.appointment(appointment_id)
    return _get(AppointmentItem, pk, sk, consistent)


def appointments_of_people(pids: Iterable[str]) -> list[AppointmentItem]:
    found: dict[str, AppointmentItem] = {}
    for pid in dict.fromkeys(pids):
        for item in AppointmentItem.by_person.query(keys.appointments_of_person(pid)):
            found[item.id] = item
    return sorted(found.values(), key=lambda a: (a.start, a.id))


def _page(query: Any) -> tuple[list[Any], dict[str, Any] | None]:
    found = list(query)
    return found, query.last_evaluated_key


def appointments_of_people_page(
    pids: Sequence[str], page: PageRequest
) -> tuple[list[AppointmentItem], Position | None]:
    """One page of the appointments of several people, person by person, each by start."""
    found: list[AppointmentItem] = []
    person, after = page.start.person, page.start.after
    while person < len(pids) and len(found) < page.limit:
        pid = pids[person]
        start_key = None
        if after:
            (appointment_id, sort) = after[:2]
            pk, sk = keys.appointment(appointment_id)
            start_key = {
                "pk": {"S": pk},
                "sk": {"S": sk},
                "gsi1pk": {"S": keys.appointments_of_person(pid)},
                "gsi1sk": {"S": sort},
            }
        query = AppointmentItem.by_person.query(
            keys.appointments_of_person(pid), limit=page.limit - len(found), last_evaluated_key=start_key
        )
        items, last = _page(query)
        found.extend(items)
        if last is not None and items:
            return found, Position(person, (items[-1].id, items[-1].gsi1sk))
        person, after = person + 1, ()
    return found, (Position(person, ()) if person < len(pids) else None)


def inbox_page(pids: Sequence[str], page: PageRequest) -> tuple[list[InboxMessageItem], Position | None]:
    """One page of the inbox of several people, person by person, newest first."""
    found: list[InboxMessageItem] = []
    person, after = page.start.person, page.start.after
    while person < len(pids) and len(found) < page.limit:
        pk = keys.inbox(pids[person])
        start_key = {"pk": {"S": pk}, "sk": {"S": after[0]}} if after else None
        query = InboxMessageItem.query(
            pk, scan_index_forward=False, limit=page.limit - len(found), last_evaluated_key=start_key
        )
        items, last = _page(query)
        found.extend(items)
        if last is not None and items:
            return found, Position(person, (items[-1].sk,))
        person, after = person + 1, ()
    return found, (Position(person, ()) if person < len(pids) else None)


def appointments_of_timebook_page(
    timebook_id: str, page: PageRequest, *, day: date | None = None, status: str | None = None
) -> tuple[list[AppointmentItem], Position | None]:
    condition = AppointmentItem.gsi2sk.startswith(day.isoformat()) if day is not None else None
    status_filter = (AppointmentItem.status == status) if status else None
    start_key = None
    if page.start.after:
        appointment_id, sort = page.start.after[:2]
        pk, sk = keys.appointment(appointment_id)
        start_key = {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "gsi2pk": {"S": keys.appointments_of_timebook(timebook_id)},
            "gsi2sk": {"S": sort},
        }
    query = AppointmentItem.by_timebook.query(
        keys.appointments_of_timebook(timebook_id),
        condition,
        filter_condition=status_filter,
        limit=page.limit,
        last_evaluated_key=start_key,
    )
    items, last = _page(query)
    if last is not None and items:
        return items, Position(0, (items[-1].id, items[-1].gsi2sk))
    return items, None


def appointments_of_timebook(
    timebook_id: str, *, day: date | None = None, status: str | None = None
) -> list[AppointmentItem]:
    condition = None
    if day is not None:
        condition = AppointmentItem.gsi2sk.startswith(day.isoformat())
    status_filter = (AppointmentItem.status == status) if status else None
    return list(
        AppointmentItem.by_timebook.query(
            keys.appointments_of_timebook(timebook_id), condition, filter_condition=status_filter
        )
    )


# ---- inbox -------------------------------------------------------------------------------


def add_inbox_message(item: InboxMessageItem, pid: str) -> bool:
    """Write an inbox message once: False if this event's message is already there."""
    item.pk = keys.inbox(pid)
    item.sk = keys.inbox_sort(item.created_at, item.id)
    try:
        item.save(condition=InboxMessageItem.pk.does_not_exist())
    except PutError as error:
        if _is_condition_failure(error):
            return False
        raise
    return True


def inbox_of(pids: Iterable[str]) -> list[InboxMessageItem]:
    found: list[InboxMessageItem] = []
    for pid in dict.fromkeys(pids):
        found.extend(InboxMessageItem.query(keys.inbox(pid), scan_index_forward=False))
    return sorted(found, key=lambda m: (m.created_at, m.id), reverse=True)


# ---- housekeeping ----------------------------------------------------------------------------


def slots_with_expired_holds(now_epoch: int) -> Iterator[SlotItem]:
    """Slots whose latest hold has expired (the sweep index is sparse: only slots with holds)."""
    for shard in range(keys.HOLD_SWEEP_SHARDS):
        yield from SlotItem.holds_to_sweep.query(keys.holds_to_sweep(shard), SlotItem.gsi2sk <= f"{now_epoch:012d}")


def tidy_slot(slot: SlotItem, now_epoch: int) -> int:
    """Remove a slot's expired holds; returns how many. Correctness never depends on this:
    an expired hold already counts as free. Skips the slot if it changed since it was read."""
    claims = claims_of(slot)
    expired = {p: c for p, c in claims.items() if c.kind == "hold" and not c.live(now_epoch)}
    live_holds = [c for c in claims.values() if c.kind == "hold" and c.live(now_epoch)]
    actions: list[Any] = [_place(p).remove() for p in expired]
    if live_holds:
        actions.append(SlotItem.gsi2sk.set(f"{max(c.expires_at for c in live_holds):012d}"))
    else:
        actions += [SlotItem.gsi2pk.remove(), SlotItem.gsi2sk.remove()]
    condition = SlotItem.gsi2sk == slot.gsi2sk
    for place, claim in expired.items():
        condition &= _claim_is(place, claim.ref)
    try:
        SlotItem(slot.pk, slot.sk).update(actions=actions, condition=condition)
    except UpdateError as error:
        if _is_condition_failure(error):
            return 0
        raise
    return len(expired)


def mark_reminded(item: AppointmentItem, day: str, event: dict[str, str]) -> bool:
    """Write the reminder event on the appointment once per appointment and day, even if the
    schedule runs twice: one conditional UpdateItem (the stream takes the event to the relay)."""
    try:
        AppointmentItem(item.pk, item.sk).update(
            actions=[AppointmentItem.reminded_on.set(day), AppointmentItem.event.set(event)],
            condition=(AppointmentItem.status == "booked")
            & (AppointmentItem.reminded_on.does_not_exist() | (AppointmentItem.reminded_on != day)),
        )
    except UpdateError as error:
        if _is_condition_failure(error):
            return False
        raise
    return True
