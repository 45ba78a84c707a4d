"""Everything that reads or writes DynamoDB, and the guarded writes that keep the invariants.

Nothing else in Timebok talks to DynamoDB. The writes that take a place in a slot state the
capacity rule (domain/capacity.py) as their condition; the write that turns a hold into an
appointment states the hold rule (domain/holds.py); both conditions are built in claims.py,
the transactions in transactions.py, every key in keys.py. No read-then-write decides anything:
reads only choose which place to try, and the conditional write decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib import settings
from chalicelib.clock import OSLO
from chalicelib.domain.availability import DaySummary, SlotSummary, empty, summarize
from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.limits import Lane
from chalicelib.domain.model import (
    Appointment,
    AuditRecord,
    HealthContact,
    IdempotencyRecord,
    InboxMessage,
    Location,
    Person,
    Slot,
    Timebook,
)
from chalicelib.domain.paging import PageRequest, Position
from chalicelib.domain.slots import SlotRef
from chalicelib.errors import Unavailable
from chalicelib.storage import claims, keys, mapping
from chalicelib.storage.models import (
    ALL_MODELS,
    AppointmentItem,
    DaySummaryItem,
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
from chalicelib.storage.transactions import (
    ConditionFailed,
    Transaction,
    connection,
    get_item,
    is_condition_failure,
)


def reset_connections() -> None:
    """Forget cached clients and re-read the table name and region from the environment, e.g.
    after AWS_ENDPOINT_URL or TABLE_NAME changed (tests, the local runner)."""
    for model in ALL_MODELS:
        model.Meta.table_name = table_name()
        model.Meta.region = region()
        model._connection = None


settings.on_reset(reset_connections)


# ---- health contacts and timebooks ---------------------------------------------------------


def create_health_contact(contact: HealthContact, created_at: str) -> None:
    """The HER-id guard and the health contact are written together: a HER-id is registered once."""
    item = mapping.health_contact_item(contact, created_at)
    item.pk, item.sk = keys.health_contact(item.id)
    item.gsi1pk, item.gsi1sk = keys.HEALTH_CONTACTS, keys.by_name(item.name, item.id)
    guard_pk, guard_sk = keys.her_id(item.her_id)
    guard = HerIdItem(guard_pk, guard_sk, health_contact_id=item.id)
    tx = Transaction()
    tx.save("her_id", guard, HerIdItem.pk.does_not_exist())
    tx.save("health_contact", item, HealthContactItem.pk.does_not_exist())
    tx.commit()  # throttling or a fault is raised as such (429/503), never as "taken"


def list_health_contacts() -> list[HealthContact]:
    return [mapping.health_contact(item) for item in HealthContactItem.by_name.query(keys.HEALTH_CONTACTS)]


def get_health_contact(hc_id: str) -> HealthContact | None:
    pk, sk = keys.health_contact(hc_id)
    item = get_item(HealthContactItem, pk, sk)
    return mapping.health_contact(item) if item is not None else None


def create_timebook(timebook: Timebook, created_at: str) -> None:
    item = mapping.timebook_item(timebook, created_at)
    item.pk, item.sk = keys.timebook(item.id)
    item.gsi1pk, item.gsi1sk = keys.timebooks_of(item.health_contact_id), keys.by_name(item.name, item.id)
    item.save(condition=TimebookItem.pk.does_not_exist())


def list_timebooks(hc_id: str) -> list[Timebook]:
    return [mapping.timebook(item) for item in TimebookItem.by_health_contact.query(keys.timebooks_of(hc_id))]


def get_timebook(timebook_id: str) -> Timebook | None:
    pk, sk = keys.timebook(timebook_id)
    item = get_item(TimebookItem, pk, sk)
    return mapping.timebook(item) if item is not None else None


def add_location(timebook_id: str, location: Location) -> None:
    TimebookItem(*keys.timebook(timebook_id)).update(
        actions=[TimebookItem.locations.set(TimebookItem.locations.append([mapping.location_item(location)]))],
        condition=TimebookItem.pk.exists(),
    )


def set_slot_minutes(timebook_id: str, slot_minutes: int) -> None:
    TimebookItem(*keys.timebook(timebook_id)).update(actions=[TimebookItem.slot_minutes.set(slot_minutes)])


# ---- slots ----------------------------------------------------------------------------------


def query_summaries(
    timebook_id: str, month: str, *, day: date | None = None, from_day: date | None = None
) -> Iterator[DaySummary]:
    """Availability summaries of one timebook-month, by date then location; optionally of one
    day or from a day on. One Query of one partition (read lazily, page by page); its cost depends
    on how many slots the month has, not on how many are taken."""
    partition = keys.summary_partition(timebook_id, month)
    condition = None
    if day is not None:
        condition = DaySummaryItem.sk.startswith(keys.summary_day_prefix(day))
    elif from_day is not None:
        condition = DaySummaryItem.sk >= keys.summary_sort(from_day.isoformat())
    return (mapping.day_summary(item) for item in DaySummaryItem.query(partition, condition))


def refresh_summaries(summaries: Sequence[DaySummary], now_epoch: int, now_ms: int) -> list[DaySummary]:
    """Recount the slots of these summaries (one BatchGetItem per 100 slots) and store the result
    unless slots were added meanwhile (`version`); returns the recounted summaries either way."""
    by_id = {slot.slot_id: slot for slot in get_slots([ref for summary in summaries for ref in summary.refs()])}
    recounted = []
    for summary in summaries:
        entries = []
        for old, ref in zip(summary.entries, summary.refs(), strict=True):
            slot = by_id.get(ref.slot_id)
            if slot is None:  # listed before it was written (add_schedule writes slots first): none free
                entries.append(SlotSummary(old.hhmm, old.capacity, old.minutes, old.capacity, ()))
                continue
            entries.append(summarize(old.hhmm, slot.offered_places, old.minutes, slot.claims, now_epoch))
        pk, sk = keys.day_summary(summary.timebook_id, summary.day, summary.location_id)
        try:
            DaySummaryItem(pk, sk).update(
                actions=[
                    DaySummaryItem.slots.set({e.hhmm: e.as_item() for e in entries}),
                    DaySummaryItem.refreshed_at.set(now_ms),
                ],
                condition=DaySummaryItem.version == summary.version,
            )
        except UpdateError as error:
            if not is_condition_failure(error):
                raise
        recounted.append(replace(summary, entries=tuple(entries), refreshed_at=now_ms))  # fresh either way
    return recounted


def invalidate_summary(timebook_id: str, day: date, location_id: str) -> None:
    """Make the next reader recount a day (after a change that bypasses the places map, such as
    a capacity edit or a closure)."""
    pk, sk = keys.day_summary(timebook_id, day, location_id)
    with contextlib.suppress(UpdateError):
        DaySummaryItem(pk, sk).update(
            actions=[DaySummaryItem.refreshed_at.set(0)], condition=DaySummaryItem.pk.exists()
        )


def get_slots(refs: Sequence[SlotRef], consistent: bool = False) -> list[Slot]:
    """The slots named, in the order named (missing ones left out); BatchGetItem of 100 at a time."""
    return [mapping.slot(item) for item in _slot_items(refs, consistent)]


def _slot_items(refs: Sequence[SlotRef], consistent: bool) -> list[SlotItem]:
    if not refs:
        return []
    wanted = {keys.slot(ref): ref.slot_id for ref in refs}
    found: dict[str, SlotItem] = {}
    for slot in SlotItem.batch_get(list(wanted), consistent_read=consistent):
        if wanted.get((slot.pk, slot.sk)) == slot.slot_id:
            found[slot.slot_id] = slot
    return [found[ref.slot_id] for ref in refs if ref.slot_id in found]


def slots_of_day(timebook_id: str, day: date, location_id: str | None = None, consistent: bool = False) -> list[Slot]:
    """Every slot of a timebook on one day (optionally of one location), by start then location:
    the day's summaries name them, one BatchGetItem reads them."""
    return slots_between(timebook_id, day, day, location_id, consistent)


def slots_between(
    timebook_id: str, from_day: date, to_day: date, location_id: str | None = None, consistent: bool = False
) -> list[Slot]:
    """Every slot of a timebook from one day to another (both included), by start then location."""
    refs: list[SlotRef] = []
    month = date(from_day.year, from_day.month, 1)
    while month <= to_day:
        for summary in query_summaries(timebook_id, f"{month:%Y-%m}", from_day=from_day):
            if summary.date > to_day.isoformat():
                break
            if location_id is None or summary.location_id == location_id:
                refs.extend(summary.refs())
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return sorted(get_slots(refs, consistent), key=lambda s: (s.start, s.location_id))


def query_slots(
    timebook_id: str,
    month: str,
    *,
    day: date | None = None,
    from_day: date | None = None,
) -> Iterator[Slot]:
    """Slots of one timebook-month in start order; optionally of one day or from a day on."""
    first = date.fromisoformat(f"{month}-01")
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
    if day is not None:
        first = last = day
    elif from_day is not None:
        first = max(first, from_day)
    return iter(slots_between(timebook_id, first, last) if first <= last else [])


def get_slot(ref: SlotRef, consistent: bool = False) -> Slot | None:
    pk, sk = keys.slot(ref)
    slot = get_item(SlotItem, pk, sk, consistent)
    if slot is None or slot.slot_id != ref.slot_id:
        return None
    return mapping.slot(slot)


def create_slots(new_slots: Sequence[Slot]) -> int:
    """Create the slots that do not exist yet, then list them in their day summaries; returns
    how many slots were made.

    Existing slots are never overwritten (they carry claims): each put is conditional, in
    transactions of 100 (one guarded put each if a concurrent post made some). Summaries are
    written after the slots and only add entries that are missing, so posting the same window
    again repairs a summary a crash left short and changes nothing else.
    """
    if not new_slots:
        return 0
    slots = [_new_slot_item(slot) for slot in new_slots]
    created = 0
    for start in range(0, len(slots), 100):
        chunk = slots[start : start + 100]
        try:
            with TransactWrite(connection=connection()) as tx:
                for slot in chunk:
                    tx.save(slot, condition=SlotItem.pk.does_not_exist())
            created += len(chunk)
        except TransactWriteError:
            for slot in chunk:
                try:
                    slot.save(condition=SlotItem.pk.does_not_exist())
                    created += 1
                except PutError as error:
                    if not is_condition_failure(error):
                        raise
    _list_in_summaries(slots)
    return created


def _new_slot_item(slot: Slot) -> SlotItem:
    pk, sk = keys.slot_of_id(slot.slot_id)
    return SlotItem(
        pk,
        sk,
        slot_id=slot.slot_id,
        timebook_id=slot.timebook_id,
        location_id=slot.location_id,
        start=slot.start,
        end=slot.end,
        capacity=slot.capacity,
        places={},
    )


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


# ---- people: one live hold, and the per-person limit -------------------------------------------


def read_slot_and_person(ref: SlotRef, pid: str) -> tuple[Slot | None, Person]:
    """The slot and the person (in this slot's timebook) in one consistent BatchGetItem."""
    slot_key, person_key = keys.slot(ref), keys.person(ref.timebook_id, pid)
    wanted = [slot_key, person_key]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(3):
        raw_keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted]
        answer = connection().dispatch(
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
    return (mapping.slot(slot) if slot else None), mapping.person(ref.timebook_id, pid, person)


@dataclass
class HoldWrite:
    """Everything the hold transaction writes (see `take_hold`)."""

    slot: SlotRef
    place: int
    claim: Claim
    person: Person
    free_old: tuple[SlotRef, int, str] | None = None  # the replaced live hold: slot, place, id
    lane: int | None = None  # a lane the person must still have free (the per-person limit)
    idempotency: IdempotencyRecord | None = None


def take_hold(write: HoldWrite, now_epoch: int) -> None:
    """One transaction: take a free place by the capacity rule, free the person's previous live
    hold, and make the new one their hold, if their hold is still the one read and a lane is
    free. Raises ConditionFailed naming what lost: place, old, person, idempotency, conflict."""
    tx = Transaction()
    # No sweep index entry (gsi2 `SWEEP#n`) for a citizen's hold: an expired hold is free by the
    # capacity rule and the next claim of its place overwrites it, and the places map is bounded
    # by the capacity, so tidying it bought nothing but 1 WCU on the hold and 1 on the booking.
    # Waitlist offers still carry it (storage/waitlist.py): the sweep moves lapsed offers on.
    actions = [claims.place_attr(write.place).set(write.claim.as_item())]
    condition = claims.place_is_free(write.place, now_epoch)
    if write.free_old is not None:
        old_ref, old_place, old_id = write.free_old
        if old_ref.slot_id == write.slot.slot_id and old_place == write.place:
            condition = SlotItem.pk.exists() & claims.claim_is(old_place, old_id)  # the same place, held anew
        elif old_ref.slot_id == write.slot.slot_id:
            # The same item cannot be two parts of one transaction: one update does both.
            actions.append(claims.place_attr(old_place).remove())
            condition &= claims.claim_is(old_place, old_id)
        else:
            tx.update(
                "old",
                claims.slot_key_item(old_ref),
                [claims.place_attr(old_place).remove()],
                claims.claim_is(old_place, old_id),
            )
    tx.update("place", claims.slot_key_item(write.slot), actions, condition)
    claims.person_part(
        tx, write.person, now_epoch, set_hold=(write.claim.ref, write.claim.expires_at), lane_free=write.lane
    )
    if write.idempotency is not None:
        tx.save("idempotency", mapping.idempotency_item(write.idempotency), _key_unused(now_epoch))
    tx.commit()


def release_place(ref: SlotRef, place: int, claim_ref: str, owner: str | None = None) -> None:
    """Free a place, but only if it still carries this claim (and, for holds, this owner)."""
    condition = claims.claim_is(place, claim_ref)
    if owner is not None:
        condition &= claims.place_attr(place)["owner"] == owner
    try:
        claims.slot_key_item(ref).update(actions=[claims.place_attr(place).remove()], condition=condition)
    except UpdateError as error:
        if is_condition_failure(error):
            raise ConditionFailed(["place"]) from error
        raise


def forget_hold(timebook_id: str, pid: str, hold_id: str) -> None:
    """After a release: the person's pointer to that hold goes too (best effort; a stale pointer
    only costs the next hold one retry)."""
    try:
        claims.person_key_item(timebook_id, pid).update(
            actions=claims.forget_hold_actions(),
            condition=PersonItem.hold == hold_id,
        )
    except UpdateError as error:
        if not is_condition_failure(error):
            raise


def get_person(timebook_id: str, pid: str) -> Person:
    pk, sk = keys.person(timebook_id, pid)
    return mapping.person(timebook_id, pid, get_item(PersonItem, pk, sk, consistent=True))


@dataclass
class Booking:
    """Everything the booking transaction writes (see `book`)."""

    appointment: Appointment
    slot: SlotRef
    place: int
    owner: str
    hold_id: str | None
    event: dict[str, str]  # the appointment's event (booking/events.change_event), on the item
    person: Person
    lane: int | None = None
    idempotency: IdempotencyRecord | None = None


def _prepare_appointment(item: AppointmentItem) -> None:
    item.pk, item.sk = keys.appointment(item.id)
    item.gsi1pk = keys.appointments_of_person(item.for_pid)
    item.gsi1sk = keys.appointment_sort(item.start, item.id)
    item.gsi2pk = keys.appointments_of_timebook(plain(item.timebook)["id"], keys.appointment_shard(item.id))
    item.gsi2sk = keys.appointment_sort(item.start, item.id)


def book(booking: Booking, now_epoch: int, ends_epoch: int) -> None:
    """The one guarded write that makes an appointment: place, person, appointment (carrying its
    event, which the table's stream takes to the relay), key.

    From a hold: the place must still carry this caller's live hold, and the person's hold must
    be that hold (it is cleared). Straight from a slot: the place must be free by the capacity
    rule. With a per-person limit the lane must be free by domain/limits.py. Nothing is read
    first: the conditions decide. Raises ConditionFailed naming what lost.
    """
    appointment = mapping.appointment_item(booking.appointment)
    _prepare_appointment(appointment)
    appointment.event = booking.event
    claim = Claim("appointment", appointment.id, booking.owner, NEVER_EXPIRES)
    if booking.hold_id:
        condition = claims.hold_is_usable(booking.place, booking.hold_id, booking.owner, now_epoch)
    else:
        condition = claims.place_is_free(booking.place, now_epoch)
    tx = Transaction()
    tx.update(
        "place", claims.slot_key_item(booking.slot), [claims.place_attr(booking.place).set(claim.as_item())], condition
    )
    tx.save("appointment", appointment, AppointmentItem.pk.does_not_exist())
    lane = (booking.lane, Lane(appointment.id, ends_epoch)) if booking.lane is not None else None
    if booking.hold_id or lane:
        claims.person_part(tx, booking.person, now_epoch, clear_hold=bool(booking.hold_id), lane=lane)
    if booking.idempotency is not None:
        tx.save("idempotency", mapping.idempotency_item(booking.idempotency), _key_unused(now_epoch))
    tx.commit()


@dataclass
class Change:
    """One appointment transition, written at once with the places it frees or takes.

    The appointment's condition is its current state and version, so of two concurrent
    transitions (two staff confirming, a cancel racing a confirm) exactly one is written.
    """

    appointment: Appointment
    expected_status: Sequence[str]
    expected_version: int
    status: str  # the new state
    updated_at: str
    event: dict[str, str]  # the change's event (booking/events.change_event), written on the item
    free: tuple[SlotRef, int] | None = None  # the place the appointment gives back
    take: tuple[SlotRef, int, Claim] | None = None  # the place it moves to (reschedule)
    free_lane: bool = False  # it stops being active (cancel, reject): its lane is freed
    lane_ends_at: int | None = None  # it moves (reschedule): its lane now lasts until the new end
    audit: AuditRecord | None = None  # a staff action's audit record, written with it
    reason: str | None = None  # why (a rejection, a staff cancel), for the citizen to read
    move: Move | None = None  # where it moves to (reschedule)


@dataclass(frozen=True)
class Move:
    """A rescheduled appointment's new slot, place and times (its index keys move with it)."""

    slot_id: str
    place: int
    start: str
    end: str
    minutes: int
    location: Location


def _change_actions(change: Change) -> list[Any]:
    """The appointment's update: its new state, and where it moves to; the version goes up by one."""
    actions = [
        AppointmentItem.status.set(change.status),
        AppointmentItem.updated_at.set(change.updated_at),
        AppointmentItem.version.set(change.expected_version + 1),
        AppointmentItem.event.set(change.event),
    ]
    if change.reason:
        actions.append(AppointmentItem.reason.set(change.reason))
    move = change.move
    if move is not None:
        sort = keys.appointment_sort(move.start, change.appointment.id)
        actions += [
            AppointmentItem.slot_id.set(move.slot_id),
            AppointmentItem.place.set(move.place),
            AppointmentItem.start.set(move.start),
            AppointmentItem.end.set(move.end),
            AppointmentItem.duration_minutes.set(move.minutes),
            AppointmentItem.location.set(mapping.location_item(move.location)),
            AppointmentItem.gsi1sk.set(sort),
            AppointmentItem.gsi2sk.set(sort),
        ]
    return actions


def change_appointment(change: Change, now_epoch: int) -> None:
    item = change.appointment
    tx = Transaction()
    tx.update(
        "appointment",
        AppointmentItem(*keys.appointment(item.id)),
        _change_actions(change),
        AppointmentItem.status.is_in(*change.expected_status) & (AppointmentItem.version == change.expected_version),
    )
    if change.free is not None:
        ref, place = change.free
        tx.update(
            "free", claims.slot_key_item(ref), [claims.place_attr(place).remove()], claims.claim_is(place, item.id)
        )
    lane = item.lane
    if lane is not None and (change.free_lane or change.lane_ends_at is not None):
        person = claims.person_key_item(item.timebook.id, item.for_pid)
        still_counts = claims.lane_attr(lane)["ref"] == item.id
        if change.free_lane:
            tx.update("lane", person, [claims.lane_attr(lane).remove()], still_counts)
        else:
            tx.update("lane", person, [claims.lane_attr(lane)["ends_at"].set(change.lane_ends_at)], still_counts)
    if change.take is not None:
        ref, place, claim = change.take
        tx.update(
            "take",
            claims.slot_key_item(ref),
            [claims.place_attr(place).set(claim.as_item())],
            claims.place_is_free(place, now_epoch),
        )
    if change.audit is not None:
        tx.save("audit", mapping.audit_item(change.audit))
    tx.commit()


def get_idempotency(owner: str, scope: str, key: str) -> IdempotencyRecord | None:
    pk, sk = keys.idempotency(owner, scope, key)
    item = get_item(IdempotencyItem, pk, sk, consistent=True)
    if item is None:
        return None
    return IdempotencyRecord(owner, scope, key, item.request_hash, str(item.result_id), int(item.ttl))


def _key_unused(now_epoch: int) -> Condition:
    """An Idempotency-Key is free if never used, or used more than 24 h ago (TTL deletes late)."""
    return IdempotencyItem.pk.does_not_exist() | (IdempotencyItem.ttl <= now_epoch)


# ---- appointments ---------------------------------------------------------------------------


def get_appointment(appointment_id: str, consistent: bool = False) -> Appointment | None:
    pk, sk = keys.appointment(appointment_id)
    item = get_item(AppointmentItem, pk, sk, consistent)
    return mapping.appointment(item) if item is not None else None


def appointments_of_people(pids: Iterable[str]) -> list[Appointment]:
    found: dict[str, AppointmentItem] = {}
    for pid in dict.fromkeys(pids):
        for item in AppointmentItem.by_person.query(keys.appointments_of_person(pid)):
            found[item.id] = item
    return [mapping.appointment(item) for item in sorted(found.values(), key=lambda a: (a.start, a.id))]


def _page(query: Any) -> tuple[list[Any], dict[str, Any] | None]:
    found = list(query)
    return found, query.last_evaluated_key


def appointments_of_people_page(pids: Sequence[str], page: PageRequest) -> tuple[list[Appointment], Position | None]:
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
            return _appointments(found), Position(person, (items[-1].id, items[-1].gsi1sk))
        person, after = person + 1, ()
    return _appointments(found), (Position(person, ()) if person < len(pids) else None)


def _appointments(items: Iterable[AppointmentItem]) -> list[Appointment]:
    return [mapping.appointment(item) for item in items]


def inbox_page(pids: Sequence[str], page: PageRequest) -> tuple[list[InboxMessage], Position | None]:
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
            return _messages(found), Position(person, (items[-1].sk,))
        person, after = person + 1, ()
    return _messages(found), (Position(person, ()) if person < len(pids) else None)


def _messages(items: Iterable[InboxMessageItem]) -> list[InboxMessage]:
    return [mapping.inbox_message(item) for item in items]


def _timebook_appointments(
    timebook_id: str, day: date | None, status: str | None, after: str | None, limit: int | None
) -> tuple[list[AppointmentItem], str | None]:
    """A timebook's appointments by start, merged from its gsi2 shards (keys.APPOINTMENT_SHARDS).

    Each shard is read from just after `after` (the last sort key given) up to `limit` matching
    items. A shard that stopped short gave `limit` items, so the first `limit` of the merge are
    certainly the first overall; the page ends there. Returns the items and where the next page
    starts (None: the end)."""
    low = after + "\x01" if after else None  # sort keys are printable: nothing lies in between
    if day is not None:
        low = max(low or "", day.isoformat())
    high = f"{day.isoformat()}~" if day is not None else None  # "~" sorts after any time of the day
    if low is not None and high is not None:
        condition = AppointmentItem.gsi2sk.between(low, high)
    elif low is not None:
        condition = AppointmentItem.gsi2sk >= low
    else:
        condition = None
    status_filter = (AppointmentItem.status == status) if status else None
    found: list[AppointmentItem] = []
    more = False
    for partition in keys.appointments_of_timebook_all(timebook_id):
        query = AppointmentItem.by_timebook.query(partition, condition, filter_condition=status_filter, limit=limit)
        found.extend(query)
        more = more or query.last_evaluated_key is not None
    found.sort(key=lambda a: a.gsi2sk)
    if limit is not None and (more or len(found) > limit):
        found = found[:limit]
        return found, found[-1].gsi2sk
    return found, None


def appointments_of_timebook_page(
    timebook_id: str, page: PageRequest, *, day: date | None = None, status: str | None = None
) -> tuple[list[Appointment], Position | None]:
    after = page.start.after[-1] if page.start.after else None
    items, next_after = _timebook_appointments(timebook_id, day, status, after, page.limit)
    return _appointments(items), (Position(0, (next_after,)) if next_after is not None else None)


def appointments_of_timebook(
    timebook_id: str, *, day: date | None = None, status: str | None = None
) -> list[Appointment]:
    return _appointments(_timebook_appointments(timebook_id, day, status, None, None)[0])


# ---- inbox -------------------------------------------------------------------------------


def add_inbox_message(item: InboxMessageItem, pid: str) -> bool:
    """Write an inbox message once: False if this event's message is already there."""
    item.pk = keys.inbox(pid)
    item.sk = keys.inbox_sort(item.created_at, item.id)
    try:
        item.save(condition=InboxMessageItem.pk.does_not_exist())
    except PutError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def inbox_of(pids: Iterable[str]) -> list[InboxMessage]:
    found: list[InboxMessageItem] = []
    for pid in dict.fromkeys(pids):
        found.extend(InboxMessageItem.query(keys.inbox(pid), scan_index_forward=False))
    return _messages(sorted(found, key=lambda m: (m.created_at, m.id), reverse=True))


# ---- housekeeping ----------------------------------------------------------------------------


def slots_with_expired_holds(now_epoch: int) -> Iterator[SlotItem]:
    """Slots whose latest hold has expired (the sweep index is sparse: only slots with holds)."""
    for shard in range(keys.HOLD_SWEEP_SHARDS):
        yield from SlotItem.holds_to_sweep.query(
            keys.holds_to_sweep(shard), SlotItem.gsi2sk <= keys.sweep_sort(now_epoch)
        )


def tidy_slot(slot: SlotItem, now_epoch: int) -> int:
    """Remove a slot's expired holds; returns how many. Correctness never depends on this:
    an expired hold already counts as free. Skips the slot if it changed since it was read."""
    held = mapping.claims(slot)
    expired = {p: c for p, c in held.items() if c.kind == "hold" and not c.live(now_epoch)}
    live_holds = [c for c in held.values() if c.kind == "hold" and c.live(now_epoch)]
    actions: list[Any] = [claims.place_attr(p).remove() for p in expired]
    if live_holds:
        actions.append(SlotItem.gsi2sk.set(keys.sweep_sort(max(c.expires_at for c in live_holds))))
    else:
        actions += [SlotItem.gsi2pk.remove(), SlotItem.gsi2sk.remove()]
    condition = SlotItem.gsi2sk == slot.gsi2sk
    for place, claim in expired.items():
        condition &= claims.claim_is(place, claim.ref)
    try:
        SlotItem(slot.pk, slot.sk).update(actions=actions, condition=condition)
    except UpdateError as error:
        if is_condition_failure(error):
            return 0
        raise
    return len(expired)


def mark_reminded(appointment_id: str, day: str, event: dict[str, str]) -> bool:
    """Write the reminder event on the appointment once per appointment and day, even if the
    schedule runs twice: one conditional UpdateItem (the stream takes the event to the relay)."""
    try:
        AppointmentItem(*keys.appointment(appointment_id)).update(
            actions=[AppointmentItem.reminded_on.set(day), AppointmentItem.event.set(event)],
            condition=(AppointmentItem.status == "booked")
            & (AppointmentItem.reminded_on.does_not_exist() | (AppointmentItem.reminded_on != day)),
        )
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True
