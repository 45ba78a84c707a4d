"""An in-memory repository: the storage seam (chalicelib/storage/repository.py, storage/waitlist.py,
storage/staffwork.py) in dictionaries, for the use-case tests (cosmicpython's FakeRepository).

One class per capability, each method with the name and signature of the storage function it
stands for, taking and returning the same domain objects. Every guarded write decides with the
domain rules (`Slot.free_places`, `holds.refusal`, `Lane.occupied`...) where DynamoDB decides
with the conditions of storage/claims.py, and loses the same way: ConditionFailed naming the
parts that lost, puts before updates as PynamoDB sends them. Each call is atomic under one lock
(a transaction: every condition is checked before anything is written).

What the table's stream would carry (an appointment written with its event, an event item) is
kept as stream records; `MemoryRepository.drain_stream` hands them to the relay's handler as
chalicelib/local/stream.py `drain_stream` does with moto's stream (tests/helpers.relay_stream).

tests/storage/test_contract.py runs the same cases against this and against moto.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.clock import OSLO
from chalicelib.domain import holds as hold_rule
from chalicelib.domain.availability import DaySummary, SlotSummary, empty, summarize
from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.closures import Closure
from chalicelib.domain.limits import Lane
from chalicelib.domain.model import (
    Appointment,
    AuditRecord,
    Event,
    HealthContact,
    IdempotencyRecord,
    InboxMessage,
    Location,
    Person,
    Slot,
    Timebook,
)
from chalicelib.domain.paging import PageRequest, Position
from chalicelib.domain.queue import ListEntry, Restamp, RoomState
from chalicelib.domain.retention import ERASED, PersonalRecord, erased_audit
from chalicelib.domain.slots import SlotRef
from chalicelib.domain.waitlist import Entry, Guard
from chalicelib.local.stream import DrainResult
from chalicelib.storage import appointments as appointment_storage
from chalicelib.storage import keys, mapping, repository, retention, staffwork, waitlist
from chalicelib.storage import queue as queue_storage
from chalicelib.storage.appointments import Booking, Change
from chalicelib.storage.holds import HoldWrite
from chalicelib.storage.transactions import ConditionFailed
from chalicelib.storage.waitlist import NewOffer

Apply = Callable[[], None]


def _at(now_epoch: int) -> datetime:
    return datetime.fromtimestamp(now_epoch, UTC)


class _Transaction:
    """Named parts, each a condition already decided and what it writes: all or nothing."""

    def __init__(self) -> None:
        self._puts: list[tuple[str, bool, Apply]] = []
        self._updates: list[tuple[str, bool, Apply]] = []

    def put(self, name: str, ok: bool, apply: Apply) -> None:
        self._puts.append((name, ok, apply))

    def update(self, name: str, ok: bool, apply: Apply) -> None:
        self._updates.append((name, ok, apply))

    def commit(self) -> None:
        parts = self._puts + self._updates  # PynamoDB sends puts before updates
        failed = [name for name, ok, _ in parts if not ok]
        if failed:
            raise ConditionFailed(failed)
        for _, _, apply in parts:
            apply()


@dataclass
class _Closure:
    state: str
    detail: dict[str, Any]
    unfinished: bool


@dataclass
class State:
    """Everything stored, as domain objects (plus the little that only storage keeps)."""

    health_contacts: dict[str, HealthContact] = field(default_factory=dict)
    her_ids: set[str] = field(default_factory=set)
    timebooks: dict[str, Timebook] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    sweep_at: dict[str, int] = field(default_factory=dict)  # slots a waitlist offer put in the sweep index
    summaries: dict[tuple[str, str, str], DaySummary] = field(default_factory=dict)  # timebook, date, location
    people: dict[tuple[str, str], Person] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    appointment_events: dict[str, dict[str, str]] = field(default_factory=dict)
    idempotency: dict[tuple[str, str, str], IdempotencyRecord] = field(default_factory=dict)
    inbox: dict[str, dict[str, InboxMessage]] = field(default_factory=dict)  # pid -> sort key -> message
    entries: dict[str, Entry] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)  # entry ids in their timebook's queue
    guards: dict[tuple[str, str], Guard] = field(default_factory=dict)
    waitlists: set[str] = field(default_factory=set)
    waitlist_stamps: dict[str, str] = field(default_factory=dict)  # the registry's stamp (holds' gate)
    events: set[str] = field(default_factory=set)
    markers: set[tuple[str, str]] = field(default_factory=set)
    closures: dict[tuple[str, str], _Closure] = field(default_factory=dict)
    audit: dict[str, dict[str, AuditRecord]] = field(default_factory=dict)  # timebook -> sort key -> record
    stream: list[dict[str, Any]] = field(default_factory=list)
    stream_read: int = 0
    retention_position: str | None = None  # storage/retention.py's scan position
    tickets: dict[tuple[str, str], int] = field(default_factory=dict)  # (timebook, person hash) -> arrival
    rooms: dict[str, RoomState] = field(default_factory=dict)
    listed: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # (tb, person hash) -> wave id -> ttl
    stamps: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (tb, person, wave) -> settings version
    restamps: dict[str, Restamp] = field(default_factory=dict)  # the walks asked for and not finished
    restamp_generations: dict[str, int] = field(default_factory=dict)  # the last ask's, finished or not
    shed: int = 0


class Store:
    """The state and its lock, shared by the capabilities; the conditions as domain rules."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state = State()

    # ---- the conditions of storage/claims.py, decided by the domain's rules ----

    def place_is_free(self, slot_id: str, place: int, now_epoch: int) -> bool:
        slot = self.state.slots.get(slot_id)
        return slot is not None and place in slot.free_places(_at(now_epoch))

    def claim_is(self, slot_id: str, place: int, ref: str) -> bool:
        slot = self.state.slots.get(slot_id)
        claim = slot.claims.get(place) if slot is not None else None
        return claim is not None and claim.ref == ref

    def hold_is_usable(self, slot_id: str, place: int, hold_id: str, owner: str, now_epoch: int) -> bool:
        slot = self.state.slots.get(slot_id)
        if slot is None or slot.closed:
            return False
        return hold_rule.refusal(slot.claims.get(place), hold_id, owner, now_epoch) is None

    def set_claims(self, slot_id: str, changes: Mapping[int, Claim | None]) -> None:
        slot = self.state.slots[slot_id]
        claims = dict(slot.claims)
        for place, claim in changes.items():
            if claim is None:
                claims.pop(place, None)
            else:
                claims[place] = claim
        self.state.slots[slot_id] = replace(slot, claims=claims)

    def person_part(
        self,
        tx: _Transaction,
        seen: Person,
        now_epoch: int,
        *,
        set_hold: tuple[str, int] | None = None,
        clear_hold: bool = False,
        lane: tuple[int, Lane] | None = None,
        lane_free: int | None = None,
    ) -> None:
        """claims.person_part: their hold is still the one seen, and the lane is free."""
        key = (seen.timebook_id, seen.pid)
        stored = self.state.people.get(key)
        if not seen.exists:
            hold, expires = set_hold if set_hold else (None, None)
            lanes = {lane[0]: lane[1]} if lane else {}
            new = Person(seen.timebook_id, seen.pid, True, hold, expires, lanes)
            tx.put("person", stored is None, lambda: self.state.people.__setitem__(key, new))
            return
        ok = stored is not None and stored.hold == seen.hold
        number = lane[0] if lane else lane_free
        if ok and stored is not None and number is not None:
            taken = stored.lanes.get(number)
            ok = taken is None or not taken.occupied(now_epoch)

        def apply() -> None:
            person = self.state.people[key]
            if set_hold:
                person = replace(person, hold=set_hold[0], hold_expires_at=set_hold[1])
            elif clear_hold:
                person = replace(person, hold=None, hold_expires_at=None)
            if lane:
                person = replace(person, lanes={**person.lanes, lane[0]: lane[1]})
            self.state.people[key] = person

        tx.update("person", ok, apply)

    def key_unused(self, record: IdempotencyRecord, now_epoch: int) -> bool:
        found = self.state.idempotency.get((record.owner, record.scope, record.key))
        return found is None or found.ttl <= now_epoch

    def save_idempotency(self, record: IdempotencyRecord) -> None:
        self.state.idempotency[(record.owner, record.scope, record.key)] = record

    # ---- what the table's stream would carry ----

    def record(self, name: str, image: dict[str, Any]) -> None:
        sequence = str(len(self.state.stream) + 1).zfill(21)
        self.state.stream.append(
            {
                "eventName": name,
                "eventSource": "aws:dynamodb",
                "dynamodb": {"NewImage": image, "SequenceNumber": sequence},
            }
        )

    def appointment_written(self, appointment: Appointment, event: dict[str, str], name: str) -> None:
        self.state.appointments[appointment.id] = appointment
        self.state.appointment_events[appointment.id] = dict(event)
        item = mapping.appointment_item(appointment)
        appointment_storage.prepare_appointment(item)
        item.event = dict(event)
        item.reason = appointment.reason
        item.reminded_on = appointment.reminded_on
        self.record(name, item.serialize())

    def event_written(self, event: Event) -> None:
        self.state.events.add(event.event_id)
        self.record("INSERT", mapping.event_item(event).serialize())


class _Capability:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.state = store.state


# Writes of the seam. A DynamoDB (or moto) request takes over a millisecond; the fake's writes
# wait for the next millisecond too, so what the use cases stamp after one write (a waitlist
# entry's `created_at`, an audit record's `at_utc`, both ordered to the millisecond) is later
# than what they stamped before it, as on moto. Waiting for a change, not for a duration.
_WRITES = frozenset(
    {
        "create_health_contact", "create_timebook", "add_location", "set_slot_minutes", "create_slots",
        "change_timebook_settings", "add_wave_people", "stamp_entries", "ask_restamp", "save_restamp",
        "refresh_summaries", "invalidate_summary", "tidy_expired_holds", "take_hold", "release_place",
        "forget_hold", "book", "change_appointment", "mark_reminded", "add_inbox_message", "join", "offer",
        "end", "take_back_offer", "tell_once", "change_slot", "close_slot", "start_closure",
        "finish_closure", "add_audit",
    }
)  # fmt: skip


def _next_millisecond() -> None:
    started = clock.now().isoformat(timespec="milliseconds")
    while clock.now().isoformat(timespec="milliseconds") == started:
        time.sleep(0.0002)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    writes = method.__name__ in _WRITES

    def call(self: _Capability, *args: Any, **kwargs: Any) -> Any:
        try:
            with self.store.lock:
                self.state = self.store.state  # a restored snapshot is a new state
                return method(self, *args, **kwargs)
        finally:
            if writes:
                _next_millisecond()

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


# ---- catalog.py ------------------------------------------------------------------------------------


class Catalog(_Capability):
    @_locked
    def create_health_contact(self, contact: HealthContact, created_at: str) -> None:
        tx = _Transaction()
        tx.put("her_id", contact.her_id not in self.state.her_ids, lambda: self.state.her_ids.add(contact.her_id))
        tx.put(
            "health_contact",
            contact.id not in self.state.health_contacts,
            lambda: self.state.health_contacts.__setitem__(contact.id, contact),
        )
        tx.commit()

    @_locked
    def list_health_contacts(self) -> list[HealthContact]:
        return sorted(self.state.health_contacts.values(), key=lambda c: keys.by_name(c.name, c.id))

    @_locked
    def get_health_contact(self, hc_id: str) -> HealthContact | None:
        return self.state.health_contacts.get(hc_id)

    @_locked
    def create_timebook(self, timebook: Timebook, created_at: str) -> None:
        if timebook.id in self.state.timebooks:
            raise ConditionFailed(["timebook"])
        self.state.timebooks[timebook.id] = timebook

    @_locked
    def list_timebooks(self, hc_id: str) -> list[Timebook]:
        found = [t for t in self.state.timebooks.values() if t.health_contact.id == hc_id]
        return sorted(found, key=lambda t: keys.by_name(t.name, t.id))

    @_locked
    def get_timebook(self, timebook_id: str) -> Timebook | None:
        return self.state.timebooks.get(timebook_id)

    @_locked
    def add_location(self, timebook_id: str, location: Location) -> None:
        timebook = self.state.timebooks.get(timebook_id)
        if timebook is None:
            raise ConditionFailed(["timebook"])
        self.state.timebooks[timebook_id] = replace(timebook, locations=(*timebook.locations, location))

    @_locked
    def change_timebook_settings(
        self, timebook: Timebook, read_version: int, removed_waves: Collection[str] = (), drop_lists: bool = False
    ) -> None:
        stored = self.state.timebooks.get(timebook.id)
        if stored is None or stored.version != read_version:
            raise ConditionFailed(["timebook"])
        if not drop_lists and stored.listed_waves & set(removed_waves):
            raise ConditionFailed(["timebook"])
        listed = stored.listed_waves - set(removed_waves) if drop_lists else stored.listed_waves
        settings = {
            name: getattr(timebook, name)
            for name in (
                "requires_confirmation", "hold_minutes", "cancel_deadline_hours", "max_active_per_person",
                "waitlist_offer_minutes", "retention_days", "waiting_room", "waves",
            )
        }  # fmt: skip
        self.state.timebooks[timebook.id] = replace(stored, **settings, version=read_version + 1, listed_waves=listed)

    @_locked
    def set_slot_minutes(self, timebook_id: str, slot_minutes: int) -> None:
        timebook = self.state.timebooks.get(timebook_id)
        if timebook is not None:
            self.state.timebooks[timebook_id] = replace(timebook, slot_minutes=slot_minutes)


# ---- slots.py --------------------------------------------------------------------------------------


def _summary_sort(summary: DaySummary) -> str:
    return keys.summary_sort(summary.date, summary.location_id)


class Slots(_Capability):
    @_locked
    def query_summaries(
        self,
        timebook_id: str,
        month: str,
        *,
        day: date | None = None,
        from_day: date | None = None,
        page_size: int | None = None,  # pages are DynamoDB's cost; the fake has none
    ) -> Iterator[DaySummary]:
        found = [s for (tb, d, _), s in self.state.summaries.items() if tb == timebook_id and d[:7] == month]
        if day is not None:
            found = [s for s in found if _summary_sort(s).startswith(keys.summary_day_prefix(day))]
        elif from_day is not None:
            found = [s for s in found if _summary_sort(s) >= keys.summary_sort(from_day.isoformat())]
        return iter(sorted(found, key=_summary_sort))

    @_locked
    def refresh_summaries(self, summaries: Sequence[DaySummary], now_epoch: int, now_ms: int) -> list[DaySummary]:
        by_id = {slot.slot_id: slot for slot in self.get_slots([ref for s in summaries for ref in s.refs()])}
        recounted = []
        for summary in summaries:
            entries = []
            for old, ref in zip(summary.entries, summary.refs(), strict=True):
                slot = by_id.get(ref.slot_id)
                if slot is None:
                    entries.append(SlotSummary(old.hhmm, old.capacity, old.minutes, old.capacity, ()))
                    continue
                entries.append(summarize(old.hhmm, slot.offered_places, old.minutes, slot.claims, now_epoch))
            fresh = replace(summary, entries=tuple(entries), refreshed_at=now_ms)
            key = (summary.timebook_id, summary.date, summary.location_id)
            stored = self.state.summaries.get(key)
            if stored is not None and stored.version == summary.version:
                self.state.summaries[key] = replace(stored, entries=fresh.entries, refreshed_at=now_ms)
            recounted.append(fresh)
        return recounted

    @_locked
    def invalidate_summary(self, timebook_id: str, day: date, location_id: str) -> None:
        key = (timebook_id, day.isoformat(), location_id)
        if key in self.state.summaries:
            self.state.summaries[key] = replace(self.state.summaries[key], refreshed_at=0)

    @_locked
    def get_slots(self, refs: Sequence[SlotRef], consistent: bool = False) -> list[Slot]:
        found = {ref.slot_id: self.state.slots.get(ref.slot_id) for ref in refs}
        return [slot for ref in refs if (slot := found[ref.slot_id]) is not None]

    def slots_of_day(
        self, timebook_id: str, day: date, location_id: str | None = None, consistent: bool = False
    ) -> list[Slot]:
        return self.slots_between(timebook_id, day, day, location_id, consistent)

    @_locked
    def slots_between(
        self, timebook_id: str, from_day: date, to_day: date, location_id: str | None = None, consistent: bool = False
    ) -> list[Slot]:
        refs: list[SlotRef] = []
        month = date(from_day.year, from_day.month, 1)
        while month <= to_day:
            for summary in self.query_summaries(timebook_id, f"{month:%Y-%m}", from_day=from_day):
                if summary.date > to_day.isoformat():
                    break
                if location_id is None or summary.location_id == location_id:
                    refs.extend(summary.refs())
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        return sorted(self.get_slots(refs, consistent), key=lambda s: (s.start, s.location_id))

    def query_slots(
        self, timebook_id: str, month: str, *, day: date | None = None, from_day: date | None = None
    ) -> Iterator[Slot]:
        first = date.fromisoformat(f"{month}-01")
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
        if day is not None:
            first = last = day
        elif from_day is not None:
            first = max(first, from_day)
        return iter(self.slots_between(timebook_id, first, last) if first <= last else [])

    @_locked
    def get_slot(self, ref: SlotRef, consistent: bool = False) -> Slot | None:
        return self.state.slots.get(ref.slot_id)

    @_locked
    def create_slots(self, new_slots: Sequence[Slot]) -> int:
        created = 0
        for slot in new_slots:
            if slot.slot_id not in self.state.slots:
                self.state.slots[slot.slot_id] = replace(slot, closed=False, claims={})
                created += 1
        by_day: dict[tuple[str, str, str], dict[str, SlotSummary]] = {}
        for slot in new_slots:
            start, end = datetime.fromisoformat(slot.start), datetime.fromisoformat(slot.end)
            local = start.astimezone(OSLO)
            minutes = round((end - start).total_seconds() / 60)
            entry = empty(f"{local:%H%M}{'f' if local.fold else ''}", int(slot.capacity), minutes)
            by_day.setdefault((slot.timebook_id, local.date().isoformat(), slot.location_id), {})[entry.hhmm] = entry
        for key, entries in by_day.items():
            stored = self.state.summaries.get(key) or DaySummary(key[0], key[2], key[1], (), 0, 0)
            have = {e.hhmm: e for e in stored.entries}
            merged = {**entries, **have}  # only what is missing is added
            self.state.summaries[key] = replace(
                stored, entries=tuple(merged[h] for h in sorted(merged)), version=stored.version + 1
            )
        return created

    @_locked
    def tidy_expired_holds(self, now_epoch: int) -> int:
        removed = 0
        for slot_id, sweep_at in list(self.state.sweep_at.items()):
            if sweep_at > now_epoch:
                continue
            slot = self.state.slots[slot_id]
            expired = [p for p, c in slot.claims.items() if c.kind == "hold" and not c.live(now_epoch)]
            live = [c.expires_at for c in slot.claims.values() if c.kind == "hold" and c.live(now_epoch)]
            self.store.set_claims(slot_id, dict.fromkeys(expired))
            if live:
                self.state.sweep_at[slot_id] = max(live)
            else:
                del self.state.sweep_at[slot_id]
            removed += len(expired)
        return removed


# ---- holds.py --------------------------------------------------------------------------------------


class Holds(_Capability):
    @_locked
    def read_slot_and_person(self, ref: SlotRef, pid: str) -> tuple[Slot | None, Person]:
        return self.state.slots.get(ref.slot_id), self.get_person(ref.timebook_id, pid)

    @_locked
    def read_hold_state(self, ref: SlotRef, pid: str) -> tuple[Slot | None, Person, str | None]:
        slot, person = self.read_slot_and_person(ref, pid)
        return slot, person, self._gate(ref.timebook_id)

    @_locked
    def read_person_and_gate(self, timebook_id: str, pid: str) -> tuple[Person, str | None]:
        return self.get_person(timebook_id, pid), self._gate(timebook_id)

    def _gate(self, timebook_id: str) -> str | None:
        return self.state.waitlist_stamps.get(timebook_id, "") if timebook_id in self.state.waitlists else None

    @_locked
    def take_hold(self, write: HoldWrite, now_epoch: int) -> None:
        store, tx = self.store, _Transaction()
        if write.waitlist_gate is not None:  # a condition check: sent first
            timebook_id = write.slot.timebook_id
            seen = self.state.waitlist_stamps.get(timebook_id, "") if timebook_id in self.state.waitlists else None
            tx.put("waitlist", seen == write.waitlist_gate, lambda: None)
        slot_id, place = write.slot.slot_id, write.place
        changes: dict[int, Claim | None] = {place: write.claim}
        ok = store.place_is_free(slot_id, place, now_epoch)
        if write.free_old is not None:
            old_ref, old_place, old_id = write.free_old
            if old_ref.slot_id == slot_id and old_place == place:
                ok = slot_id in self.state.slots and store.claim_is(slot_id, old_place, old_id)
            elif old_ref.slot_id == slot_id:
                changes[old_place] = None
                ok = ok and store.claim_is(slot_id, old_place, old_id)
            else:
                tx.update(
                    "old",
                    store.claim_is(old_ref.slot_id, old_place, old_id),
                    lambda: store.set_claims(old_ref.slot_id, {old_place: None}),
                )
        tx.update("place", ok, lambda: store.set_claims(slot_id, changes))
        store.person_part(
            tx, write.person, now_epoch, set_hold=(write.claim.ref, write.claim.expires_at), lane_free=write.lane
        )
        if write.idempotency is not None:
            record = write.idempotency
            tx.put("idempotency", store.key_unused(record, now_epoch), lambda: store.save_idempotency(record))
        tx.commit()

    @_locked
    def release_place(self, ref: SlotRef, place: int, claim_ref: str, owner: str | None = None) -> None:
        slot = self.state.slots.get(ref.slot_id)
        claim = slot.claims.get(place) if slot is not None else None
        if claim is None or claim.ref != claim_ref or (owner is not None and claim.owner != owner):
            raise ConditionFailed(["place"])
        self.store.set_claims(ref.slot_id, {place: None})

    @_locked
    def forget_hold(self, timebook_id: str, pid: str, hold_id: str) -> None:
        person = self.state.people.get((timebook_id, pid))
        if person is not None and person.hold == hold_id:
            self.state.people[(timebook_id, pid)] = replace(person, hold=None, hold_expires_at=None)

    @_locked
    def get_person(self, timebook_id: str, pid: str) -> Person:
        return self.state.people.get((timebook_id, pid)) or Person(timebook_id, pid)


# ---- appointments.py -------------------------------------------------------------------------------


def _person_sort(appointment: Appointment) -> str:
    return keys.appointment_sort(appointment.start, appointment.id)


class Appointments(_Capability):
    @_locked
    def book(self, booking: Booking, now_epoch: int, ends_epoch: int) -> None:
        store, tx = self.store, _Transaction()
        appointment = booking.appointment
        slot_id, place = booking.slot.slot_id, booking.place
        if booking.hold_id:
            ok = store.hold_is_usable(slot_id, place, booking.hold_id, booking.owner, now_epoch)
        else:
            ok = store.place_is_free(slot_id, place, now_epoch)
        claim = Claim("appointment", appointment.id, booking.owner, NEVER_EXPIRES)
        tx.update("place", ok, lambda: store.set_claims(slot_id, {place: claim}))
        tx.put(
            "appointment",
            appointment.id not in self.state.appointments,
            lambda: store.appointment_written(appointment, booking.event, "INSERT"),
        )
        lane = (booking.lane, Lane(appointment.id, ends_epoch)) if booking.lane is not None else None
        if booking.hold_id or lane:
            store.person_part(tx, booking.person, now_epoch, clear_hold=bool(booking.hold_id), lane=lane)
        if booking.idempotency is not None:
            record = booking.idempotency
            tx.put("idempotency", store.key_unused(record, now_epoch), lambda: store.save_idempotency(record))
        tx.commit()

    @_locked
    def change_appointment(self, change: Change, now_epoch: int) -> None:
        store, tx = self.store, _Transaction()
        current = self.state.appointments.get(change.appointment.id)
        ok = (
            current is not None
            and current.status in change.expected_status
            and current.version == change.expected_version
        )

        def write() -> None:
            assert current is not None
            new = replace(
                current, status=change.status, updated_at=change.updated_at, version=change.expected_version + 1
            )
            if change.reason:
                new = replace(new, reason=change.reason)
            move = change.move
            if move is not None:
                new = replace(
                    new,
                    slot_id=move.slot_id,
                    place=move.place,
                    start=move.start,
                    end=move.end,
                    duration_minutes=move.minutes,
                    location=move.location,
                )
            store.appointment_written(new, change.event, "MODIFY")

        tx.update("appointment", ok, write)
        item = change.appointment
        if change.free is not None:
            ref, place = change.free
            tx.update(
                "free",
                store.claim_is(ref.slot_id, place, item.id),
                lambda: store.set_claims(ref.slot_id, {place: None}),
            )
        lane = item.lane
        if lane is not None and (change.free_lane or change.lane_ends_at is not None):
            key = (item.timebook.id, item.for_pid)
            person = self.state.people.get(key)
            counted = person.lanes.get(lane) if person is not None else None

            def write_lane() -> None:
                assert person is not None
                lanes = dict(person.lanes)
                if change.free_lane:
                    del lanes[lane]
                else:
                    lanes[lane] = Lane(item.id, int(change.lane_ends_at or 0))
                self.state.people[key] = replace(person, lanes=lanes)

            tx.update("lane", counted is not None and counted.ref == item.id, write_lane)
        if change.take is not None:
            take_ref, take_place, claim = change.take
            tx.update(
                "take",
                store.place_is_free(take_ref.slot_id, take_place, now_epoch),
                lambda: store.set_claims(take_ref.slot_id, {take_place: claim}),
            )
        if change.audit is not None:
            record = change.audit
            tx.put("audit", True, lambda: Staffwork.store_audit(self.state, record))
        tx.commit()

    @_locked
    def get_appointment(self, appointment_id: str, consistent: bool = False) -> Appointment | None:
        return self.state.appointments.get(appointment_id)

    def _of_person(self, pid: str) -> list[Appointment]:
        return sorted((a for a in self.state.appointments.values() if a.for_pid == pid), key=_person_sort)

    @_locked
    def appointments_of_people(self, pids: Iterable[str]) -> list[Appointment]:
        found = {a.id: a for pid in dict.fromkeys(pids) for a in self._of_person(pid)}
        return sorted(found.values(), key=lambda a: (a.start, a.id))

    @_locked
    def appointments_of_people_page(
        self, pids: Sequence[str], page: PageRequest
    ) -> tuple[list[Appointment], Position | None]:
        found: list[Appointment] = []
        person, after = page.start.person, page.start.after
        while person < len(pids) and len(found) < page.limit:
            mine = self._of_person(pids[person])
            if after:
                mine = [a for a in mine if _person_sort(a) > after[1]]
            room = page.limit - len(found)
            items = mine[:room]
            found.extend(items)
            if len(mine) > room and items:
                return found, Position(person, (items[-1].id, _person_sort(items[-1])))
            person, after = person + 1, ()
        return found, (Position(person, ()) if person < len(pids) else None)

    def _of_timebook(
        self, timebook_id: str, day: date | None, status: str | None, after: str | None, limit: int | None
    ) -> tuple[list[Appointment], str | None]:
        found = [
            a
            for a in self.state.appointments.values()
            if a.timebook.id == timebook_id
            and (status is None or not status or a.status == status)
            and (after is None or _person_sort(a) > after)
            and (day is None or day.isoformat() <= _person_sort(a) <= f"{day.isoformat()}~")
        ]
        found.sort(key=_person_sort)
        if limit is not None and len(found) > limit:
            found = found[:limit]
            return found, _person_sort(found[-1])
        return found, None

    @_locked
    def appointments_of_timebook_page(
        self, timebook_id: str, page: PageRequest, *, day: date | None = None, status: str | None = None
    ) -> tuple[list[Appointment], Position | None]:
        after = page.start.after[-1] if page.start.after else None
        items, next_after = self._of_timebook(timebook_id, day, status, after, page.limit)
        return items, (Position(0, (next_after,)) if next_after is not None else None)

    @_locked
    def appointments_of_timebook(
        self, timebook_id: str, *, day: date | None = None, status: str | None = None
    ) -> list[Appointment]:
        return self._of_timebook(timebook_id, day, status, None, None)[0]

    @_locked
    def mark_reminded(self, appointment_id: str, day: str, event: dict[str, str]) -> bool:
        current = self.state.appointments.get(appointment_id)
        if current is None or current.status != "booked" or current.reminded_on == day:
            return False
        self.store.appointment_written(replace(current, reminded_on=day), event, "MODIFY")
        return True


# ---- idempotency.py, inbox.py ----------------------------------------------------------------------


class Idempotency(_Capability):
    @_locked
    def get_idempotency(self, owner: str, scope: str, key: str) -> IdempotencyRecord | None:
        return self.state.idempotency.get((owner, scope, key))


class Inbox(_Capability):
    def _of(self, pid: str) -> list[tuple[str, InboxMessage]]:
        return sorted(self.state.inbox.get(pid, {}).items(), reverse=True)  # newest first

    @_locked
    def inbox_page(self, pids: Sequence[str], page: PageRequest) -> tuple[list[InboxMessage], Position | None]:
        found: list[InboxMessage] = []
        person, after = page.start.person, page.start.after
        while person < len(pids) and len(found) < page.limit:
            mine = self._of(pids[person])
            if after:
                mine = [(sort, m) for sort, m in mine if sort < after[0]]
            room = page.limit - len(found)
            items = mine[:room]
            found.extend(m for _, m in items)
            if len(mine) > room and items:
                return found, Position(person, (items[-1][0],))
            person, after = person + 1, ()
        return found, (Position(person, ()) if person < len(pids) else None)

    @_locked
    def add_inbox_message(self, item: Any, pid: str) -> bool:
        """`item` is the consumer's InboxMessageItem (the one item the seam takes as such)."""
        item.pk = keys.inbox(pid)
        item.sk = keys.inbox_sort(item.created_at, item.id)
        mine = self.state.inbox.setdefault(pid, {})
        if item.sk in mine:
            return False
        mine[item.sk] = mapping.inbox_message(item)
        return True

    @_locked
    def inbox_of(self, pids: Iterable[str]) -> list[InboxMessage]:
        found = [m for pid in dict.fromkeys(pids) for _, m in self._of(pid)]
        return sorted(found, key=lambda m: (m.created_at, m.id), reverse=True)


# ---- waitlist.py -----------------------------------------------------------------------------------


def _entry_sort(entry: Entry) -> str:
    return keys.waitlist_sort(entry.created_at, entry.id)


class Waitlist(_Capability):
    @_locked
    def join(self, new: Entry) -> None:
        state, tx = self.state, _Transaction()
        guard_key = (new.timebook_id, new.for_pid)
        guard = state.guards.get(guard_key)
        joined = int(datetime.fromisoformat(new.created_at).timestamp())
        live = guard is not None and guard.live
        if live and guard is not None and guard.entry_id in state.entries:  # a live entry past its end counts no more
            live = state.entries[guard.entry_id].ends_epoch > joined
        tx.put("guard", not live, lambda: state.guards.__setitem__(guard_key, Guard(new.id, True)))

        def write_entry() -> None:
            state.entries[new.id] = new
            state.queued.add(new.id)

        tx.put("entry", new.id not in state.entries, write_entry)

        def write_registry() -> None:
            state.waitlists.add(new.timebook_id)
            state.waitlist_stamps[new.timebook_id] = new.id

        tx.put("registry", True, write_registry)
        tx.commit()

    @_locked
    def get_guard(self, timebook_id: str, pid: str) -> Guard | None:
        return self.state.guards.get((timebook_id, pid))

    @_locked
    def get_entry(self, entry_id: str, consistent: bool = False) -> Entry | None:
        return self.state.entries.get(entry_id)

    @_locked
    def queue(self, timebook_id: str, limit: int = 100) -> list[Entry]:
        found = [self.state.entries[i] for i in self.state.queued]
        return sorted((e for e in found if e.timebook_id == timebook_id), key=_entry_sort)[:limit]

    def queue_pages(self, timebook_id: str, page_size: int = 100) -> Iterator[list[Entry]]:
        """As storage: the live entries a page at a time (each page read under the lock)."""
        found = self.queue(timebook_id, limit=len(self.state.queued) + 1)
        for start in range(0, len(found), page_size):
            yield found[start : start + page_size]

    @_locked
    def position_in_queue(self, entry: Entry, most: int) -> int | None:
        mine = _entry_sort(entry)
        queued = (self.state.entries[i] for i in self.state.queued)
        ahead = sum(1 for e in queued if e.timebook_id == entry.timebook_id and _entry_sort(e) < mine)
        return ahead + 1 if ahead <= most else None

    @_locked
    def timebooks_with_waitlists(self) -> list[str]:
        return sorted(self.state.waitlists)

    @_locked
    def entries_of_people(self, pids: Iterable[str], limit: int, after: str | None) -> tuple[list[Entry], str | None]:
        wanted = set(pids)
        found = sorted((e for e in self.state.entries.values() if e.for_pid in wanted), key=_entry_sort, reverse=True)
        if after is not None:
            found = [e for e in found if _entry_sort(e) < after]
        page = found[:limit]
        more = len(found) > limit
        return page, (_entry_sort(page[-1]) if more and page else None)

    def _entry_is(self, entry: Entry, statuses: Iterable[str]) -> bool:
        stored = self.state.entries.get(entry.id)
        return stored is not None and stored.status in set(statuses) and stored.version == entry.version

    @_locked
    def offer(self, new: NewOffer, now_epoch: int) -> None:
        store, state, tx = self.store, self.state, _Transaction()
        slot_id, place = new.slot.slot_id, new.place
        changes: dict[int, Claim | None] = {place: new.claim}
        ok = store.place_is_free(slot_id, place, now_epoch)
        if new.free_old is not None:
            old_ref, old_place, old_id = new.free_old
            if old_ref.slot_id == slot_id:
                changes[old_place] = None
                ok = ok and store.claim_is(slot_id, old_place, old_id)
            else:
                tx.update(
                    "old",
                    store.claim_is(old_ref.slot_id, old_place, old_id),
                    lambda: store.set_claims(old_ref.slot_id, {old_place: None}),
                )

        def write_place() -> None:
            store.set_claims(slot_id, changes)
            state.sweep_at.setdefault(slot_id, new.claim.expires_at)  # an earlier sweep time is kept

        tx.update("place", ok, write_place)
        if new.person is not None:
            store.person_part(
                tx, new.person, now_epoch, set_hold=(new.claim.ref, new.claim.expires_at), lane_free=new.lane
            )
        entry = new.entry

        def write_entry() -> None:
            stored = state.entries[entry.id]
            state.entries[entry.id] = replace(
                stored, status="offered", offer=new.offer, version=entry.version + 1, updated_at=new.updated_at
            )

        tx.update("entry", self._entry_is(entry, ["waiting"]), write_entry)
        tx.put("event", new.event.event_id not in state.events, lambda: store.event_written(new.event))
        tx.commit()

    @_locked
    def end(
        self,
        entry: Entry,
        status: str,
        expected_status: Iterable[str],
        updated_at: str,
        release: tuple[SlotRef, int, str] | None = None,
    ) -> None:
        store, state, tx = self.store, self.state, _Transaction()

        def write_entry() -> None:
            stored = state.entries[entry.id]
            state.entries[entry.id] = replace(stored, status=status, version=entry.version + 1, updated_at=updated_at)
            state.queued.discard(entry.id)

        tx.update("entry", self._entry_is(entry, expected_status), write_entry)
        guard_key = (entry.timebook_id, entry.for_pid)
        guard = state.guards.get(guard_key)
        tx.update(
            "guard",
            guard is not None and guard.entry_id == entry.id,
            lambda: state.guards.__setitem__(guard_key, Guard(entry.id, False)),
        )
        if release is not None:
            ref, place, hold_id = release
            tx.update(
                "place",
                store.claim_is(ref.slot_id, place, hold_id),
                lambda: store.set_claims(ref.slot_id, {place: None}),
            )
        tx.commit()

    @_locked
    def take_back_offer(self, entry: Entry, ref: SlotRef, place: int, hold_id: str, updated_at: str) -> None:
        store, state, tx = self.store, self.state, _Transaction()

        def write_entry() -> None:
            stored = state.entries[entry.id]
            state.entries[entry.id] = replace(
                stored, status="waiting", offer=None, version=entry.version + 1, updated_at=updated_at
            )

        tx.update("entry", self._entry_is(entry, ["offered"]), write_entry)
        tx.update(
            "place", store.claim_is(ref.slot_id, place, hold_id), lambda: store.set_claims(ref.slot_id, {place: None})
        )
        stamp = f"{entry.id}.{entry.version + 1}"
        tx.update("registry", True, lambda: state.waitlist_stamps.__setitem__(entry.timebook_id, stamp))
        tx.commit()

    @_locked
    def tell_once(self, marker_key: tuple[str, str], event: Event) -> bool:
        state, tx = self.state, _Transaction()
        key = (marker_key[0], marker_key[1])
        tx.put("marker", key not in state.markers, lambda: state.markers.add(key))
        tx.put("event", event.event_id not in state.events, lambda: self.store.event_written(event))
        try:
            tx.commit()
        except ConditionFailed as lost:
            if "marker" in lost.failed:
                return False
            raise
        return True


# ---- staffwork.py ----------------------------------------------------------------------------------


class Staffwork(_Capability):
    @staticmethod
    def store_audit(state: State, record: AuditRecord) -> None:
        sort = keys.audit_sort(record.at_utc, record.id)
        # As the log reads it back (mapping.audit_record): whose log and the UTC time are its keys.
        state.audit.setdefault(record.timebook_id, {})[sort] = AuditRecord(
            record.id, record.at, record.actor, record.action, record.target, copy.deepcopy(record.detail),
            actor_role=record.actor_role,
        )  # fmt: skip

    @_locked
    def change_slot(
        self,
        ref: SlotRef,
        expected_capacity: int,
        capacity: int | None,
        closed: bool | None,
        audit: AuditRecord,
        now_epoch: int,
    ) -> None:
        state, tx = self.state, _Transaction()
        slot = state.slots.get(ref.slot_id)
        ok = slot is not None and slot.capacity == expected_capacity
        removed: list[int] = []
        if ok and slot is not None and capacity is not None:
            removed = list(range(capacity, expected_capacity))
            ok = all((c := slot.claims.get(p)) is None or not c.live(now_epoch) for p in removed)

        def write() -> None:
            assert slot is not None
            self.store.set_claims(ref.slot_id, dict.fromkeys(removed))
            changed = state.slots[ref.slot_id]
            if capacity is not None:
                changed = replace(changed, capacity=capacity)
            if closed is not None:
                changed = replace(changed, closed=closed)
            state.slots[ref.slot_id] = changed

        tx.update("slot", ok, write)
        tx.put("audit", True, lambda: self.store_audit(state, audit))
        tx.commit()
        self._invalidate(ref)

    def _invalidate(self, ref: SlotRef) -> None:
        key = (ref.timebook_id, ref.local_date.isoformat(), ref.location_id)
        if key in self.state.summaries:
            self.state.summaries[key] = replace(self.state.summaries[key], refreshed_at=0)

    @_locked
    def close_slot(self, ref: SlotRef, recount: bool = True) -> bool:
        slot = self.state.slots.get(ref.slot_id)
        if slot is None or slot.closed:
            return False
        self.state.slots[ref.slot_id] = replace(slot, closed=True)
        if recount:
            self._invalidate(ref)
        return True

    @_locked
    def start_closure(self, timebook_id: str, closure_id: str, detail: dict[str, Any], audit: AuditRecord) -> None:
        self.state.closures[(timebook_id, closure_id)] = _Closure("running", copy.deepcopy(detail), True)
        self.store_audit(self.state, audit)

    @_locked
    def finish_closure(self, timebook_id: str, closure_id: str, totals: dict[str, int]) -> None:
        record = self.state.closures[(timebook_id, closure_id)]
        record.state, record.unfinished = "done", False
        record.detail["totals"] = dict(totals)

    @_locked
    def checkpoint_closure(self, timebook_id: str, closure_id: str, totals: dict[str, int]) -> None:
        record = self.state.closures.get((timebook_id, closure_id))
        if record is not None and record.state == "running":  # else another run finished it
            record.detail["totals"] = dict(totals)

    @_locked
    def get_closure(self, timebook_id: str, closure_id: str) -> tuple[Closure, bool] | None:
        record = self.state.closures.get((timebook_id, closure_id))
        if record is None:
            return None
        return mapping.closure(timebook_id, closure_id, record.detail), record.state == "done"

    @_locked
    def unfinished_closures(self, limit: int = 20) -> list[Closure]:
        found = sorted(
            (keys.unfinished_closure_sort(*key), key, record)
            for key, record in self.state.closures.items()
            if record.unfinished
        )
        return [
            mapping.closure(timebook_id, closure_id, record.detail)
            for _, (timebook_id, closure_id), record in found[:limit]
        ]

    @_locked
    def add_audit(self, record: AuditRecord) -> None:
        if keys.audit_sort(record.at_utc, record.id) not in self.state.audit.get(record.timebook_id, {}):
            self.store_audit(self.state, record)

    @_locked
    def audit_log(self, timebook_id: str, limit: int, before: str | None) -> tuple[list[AuditRecord], str | None]:
        found = sorted(self.state.audit.get(timebook_id, {}).items(), reverse=True)
        if before:
            found = [(sort, r) for sort, r in found if sort < before]
        page = found[: limit + 1]
        more = len(page) > limit
        page = page[:limit]
        return [copy.deepcopy(r) for _, r in page], (page[-1][0] if more and page else None)


# ---- retention.py (issue 23) -----------------------------------------------------------------------


class Retention(_Capability):
    """The erasure's scan over every stored thing that names a person, in a stable key order."""

    def _all(self) -> list[tuple[str, PersonalRecord | None]]:
        state, found = self.state, []
        for a in state.appointments.values():
            keep = a.for_pid != ERASED
            record = PersonalRecord("appointment", f"a|{a.id}", a.timebook.id, datetime.fromisoformat(a.end))
            found.append((f"a|{a.id}", record if keep else None))
        for e in state.entries.values():
            keep = e.for_pid != ERASED and e.status not in ("waiting", "offered")
            found.append(
                (
                    f"e|{e.id}",
                    PersonalRecord("waitlist_entry", f"e|{e.id}", e.timebook_id, _utc(e.updated_at)) if keep else None,
                )
            )
        for (tb, pid), person in state.people.items():
            ends = [lane.ends_at for lane in person.lanes.values()] + [person.hold_expires_at or 0] * bool(person.hold)
            at = _at(max(ends)) if ends else datetime.min.replace(tzinfo=UTC)
            seen = json.dumps(_person_state(person))
            ref = f"p|{tb}|{pid}|{seen}"  # as listed: a changed person is not erased
            found.append((f"p|{tb}|{pid}", PersonalRecord("person", ref, tb if ends else "", at)))
        for s in state.slots.values():
            keep = any(c.owner != ERASED for c in s.claims.values())
            found.append(
                (
                    f"s|{s.slot_id}",
                    PersonalRecord("slot", f"s|{s.slot_id}", s.timebook_id, datetime.fromisoformat(s.end))
                    if keep
                    else None,
                )
            )
        for tb, records in state.audit.items():
            for sort, r in records.items():
                found.append(
                    (
                        f"u|{tb}|{sort}",
                        PersonalRecord("audit", f"u|{tb}|{sort}", tb, _utc(r.at)) if erased_audit(r) else None,
                    )
                )
        for (owner, scope, key), rec in state.idempotency.items():
            ref = json.dumps(["i", owner, scope, key, rec.ttl])
            found.append((ref, PersonalRecord("idempotency", ref, "", _at(rec.ttl))))
        return sorted(found, key=lambda pair: pair[0])

    @_locked
    def personal_records(self, position: str | None, limit: int) -> tuple[list[PersonalRecord], str | None]:
        after = [pair for pair in self._all() if position is None or pair[0] > position]
        page = after[:limit]
        records = [record for _, record in page if record is not None]
        return copy.deepcopy(records), (page[-1][0] if len(after) > limit else None)

    @_locked
    def retention_position(self) -> str | None:
        return self.state.retention_position

    @_locked
    def save_retention_position(self, position: str | None) -> None:
        self.state.retention_position = position

    @_locked
    def erase_record(self, record: PersonalRecord) -> bool:
        state = self.state
        if record.ref.startswith("["):
            _, owner, scope, key, ttl = json.loads(record.ref)
            found = state.idempotency.get((owner, scope, key))
            if found is None or found.ttl != ttl:  # used again since it was listed
                return False
            del state.idempotency[(owner, scope, key)]
            return True
        kind, *parts = record.ref.split("|", 3)
        if kind == "a":
            a = state.appointments.get(parts[0])
            if a is None or a.for_pid == ERASED:
                return False
            self._forget_messages(a.id, (a.for_pid, a.booked_by))
            state.appointments[a.id] = replace(
                a, for_pid=ERASED, for_name="", booked_by=ERASED, booked_by_name="", phone="", description="",
                answers=(), reason=None,
            )  # fmt: skip
            return True
        if kind == "e":
            e = state.entries.get(parts[0])
            if e is None or e.for_pid == ERASED:
                return False
            self._forget_messages(e.id, (e.for_pid, e.owner))
            guard = state.guards.get((e.timebook_id, e.for_pid))
            if guard is not None and guard.entry_id == e.id:
                del state.guards[(e.timebook_id, e.for_pid)]
            state.entries[e.id] = replace(e, for_pid=ERASED, owner=ERASED, offer=None)
            return True
        if kind == "p":
            person = state.people.get((parts[0], parts[1]))
            if person is None:
                return False
            if json.loads(json.dumps(_person_state(person))) != json.loads(parts[2]):
                return False
            del state.people[(parts[0], parts[1])]
            return True
        if kind == "s":
            s = state.slots.get(parts[0])
            if s is None or all(c.owner == ERASED for c in s.claims.values()):
                return False
            claims = {n: replace(c, owner=ERASED) for n, c in s.claims.items()}
            state.slots[s.slot_id] = replace(s, claims=claims)
            return True
        found = state.audit.get(parts[0], {}).get(parts[1])
        erased = erased_audit(found) if found is not None else None
        if erased is None:
            return False
        state.audit[parts[0]][parts[1]] = erased
        return True

    def _forget_messages(self, about_id: str, pids: Iterable[str]) -> None:
        for pid in dict.fromkeys(pids):
            mine = self.state.inbox.get(pid, {})
            for sort in [sort for sort, m in mine.items() if m.appointment_id == about_id]:
                del mine[sort]

    @_locked
    def audit_about(self, timebook_id: str, targets: Iterable[str], limit: int = 200) -> tuple[list[AuditRecord], bool]:
        wanted = set(targets)
        found = [r for r in self.state.audit.get(timebook_id, {}).values() if r.target in wanted]
        return copy.deepcopy(sorted(found, key=lambda r: r.at, reverse=True)[:limit]), len(found) <= limit


def _person_state(person: Person) -> list[Any]:
    return [person.hold, person.hold_expires_at, {n: [x.ref, x.ends_at] for n, x in person.lanes.items()}]


def _utc(text: str) -> datetime:
    found = datetime.fromisoformat(text)
    return found if found.tzinfo else found.replace(tzinfo=UTC)


# ---- queue.py (the waiting room) ----------------------------------------------------------------------


class Queue(_Capability):
    @_locked
    def join_queue(self, timebook_id: str, person: str, arrival: int, ttl: int) -> tuple[int, bool]:
        found = self.state.tickets.get((timebook_id, person))
        if found is not None:
            return found, False
        self.state.tickets[(timebook_id, person)] = arrival
        return arrival, True

    @_locked
    def waiting_after(self, timebook_id: str, after: int) -> list[int]:
        return sorted(a for (tb, _), a in self.state.tickets.items() if tb == timebook_id and a > after)

    @_locked
    def get_room(self, timebook_id: str, consistent: bool = False) -> RoomState | None:
        return self.state.rooms.get(timebook_id)

    @_locked
    def open_room(self, timebook_id: str, opened_at: int) -> bool:
        if timebook_id in self.state.rooms:
            return False
        self.state.rooms[timebook_id] = RoomState(stepped_at=opened_at)
        return True

    @_locked
    def save_room(self, timebook_id: str, state: RoomState) -> None:
        stored = self.state.rooms.get(timebook_id)
        if stored is None or stored.version != state.version - 1:
            raise ConditionFailed(["room"])
        self.state.rooms[timebook_id] = state

    @_locked
    def rooms(self) -> list[str]:
        return sorted(self.state.rooms)

    @_locked
    def add_wave_people(
        self, timebook_id: str, wave_id: str, people: Sequence[str], ttl: int, read_version: int
    ) -> int:
        timebook = self.state.timebooks.get(timebook_id)
        if timebook is None or timebook.version != read_version:
            raise ConditionFailed(["timebook"])
        self.state.timebooks[timebook_id] = replace(
            timebook, priority_lists=True, listed_waves=timebook.listed_waves | {wave_id}
        )
        for person in people:
            self.state.listed.setdefault((timebook_id, person), {})[wave_id] = ttl
            self.state.stamps[(timebook_id, person, wave_id)] = read_version
        return len(set(people))

    @_locked
    def list_entries(self, timebook_id: str, after: str | None, limit: int) -> tuple[list[ListEntry], str | None]:
        found = sorted(
            (keys.wave_list_sort(person, wave_id), ListEntry(person, wave_id, ttl, self._stamp(tb, person, wave_id)))
            for (tb, person), waves in self.state.listed.items()
            if tb == timebook_id
            for wave_id, ttl in waves.items()
        )
        page = [(sort, entry) for sort, entry in found if after is None or sort > after][:limit]
        return [entry for _, entry in page], (page[-1][0] if page and len(page) >= limit else None)

    def _stamp(self, timebook_id: str, person: str, wave_id: str) -> int:
        return self.state.stamps.get((timebook_id, person, wave_id), -1)

    @_locked
    def stamp_entries(self, timebook_id: str, entries: Sequence[ListEntry], ttl: int, version: int) -> int:
        stamped = 0
        for entry in entries:
            waves = self.state.listed.get((timebook_id, entry.person), {})
            if entry.wave_id not in waves or self._stamp(timebook_id, entry.person, entry.wave_id) >= version:
                continue
            waves[entry.wave_id] = ttl
            self.state.stamps[(timebook_id, entry.person, entry.wave_id)] = version
            stamped += 1
        return stamped

    @_locked
    def ask_restamp(self, timebook_id: str, asked_at: int) -> int:
        found = self.state.restamps.get(timebook_id)
        generation = (found.generation if found else self.state.restamp_generations.get(timebook_id, 0)) + 1
        first = found.asked_at if found else asked_at
        self.state.restamps[timebook_id] = Restamp(timebook_id, generation, None, first)
        self.state.restamp_generations[timebook_id] = generation
        return generation

    @_locked
    def get_restamp(self, timebook_id: str) -> Restamp | None:
        return self.state.restamps.get(timebook_id)

    @_locked
    def save_restamp(self, job: Restamp, done: bool) -> bool:
        if self.state.restamp_generations.get(job.timebook_id) != job.generation:
            return False
        if done:
            self.state.restamps.pop(job.timebook_id, None)
        elif job.timebook_id in self.state.restamps:
            self.state.restamps[job.timebook_id] = replace(self.state.restamps[job.timebook_id], after=job.after)
        return True

    @_locked
    def unfinished_restamps(self) -> list[str]:
        return sorted(self.state.restamps)

    @_locked
    def waves_of_person(self, timebook_id: str, person: str, now_epoch: int) -> list[str]:
        waves = self.state.listed.get((timebook_id, person), {})
        return sorted(wave for wave, ttl in waves.items() if ttl > now_epoch)

    @_locked
    def add_shed(self, count: int) -> None:
        self.state.shed += count

    @_locked
    def shed_total(self) -> int:
        return self.state.shed


# ---- the whole seam --------------------------------------------------------------------------------

# Names of the seam that are data classes or errors, the same object in both backends.
_SHARED = {"Booking", "Change", "ConditionFailed", "HoldWrite", "Move", "NewOffer"}


class MemoryRepository:
    """The fake behind every name of the seam; `install` swaps it in for a test."""

    def __init__(self) -> None:
        self.store = Store()
        self.capabilities: list[_Capability] = [
            cls(self.store)
            for cls in (Catalog, Slots, Holds, Appointments, Idempotency, Inbox, Waitlist, Staffwork, Retention, Queue)
        ]

    def implementation(self, name: str) -> Any:
        if name == "reset_connections":
            return lambda: None
        for capability in self.capabilities:
            found = getattr(capability, name, None)
            if found is not None and not name.startswith("_"):
                return found
        raise LookupError(f"the fake has no {name}")

    def names(self) -> dict[Any, dict[str, Any]]:
        """Each seam module's names and what the fake puts there."""
        modules = (repository, waitlist, staffwork, retention, queue_storage)
        return {
            module: {name: self.implementation(name) for name in module.__all__ if name not in _SHARED}
            for module in modules
        }

    def install(self, patch: pytest.MonkeyPatch) -> None:
        for module, names in self.names().items():
            for name, implementation in names.items():
                patch.setattr(module, name, implementation)
        from chalicelib.local import stream

        patch.setattr(stream, "drain_stream", self.drain_stream)

    # ---- the stream, as chalicelib/local/stream.py drain_stream reads moto's ----

    def drain_stream(
        self, handler: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None, max_rounds: int = 100
    ) -> DrainResult:
        if handler is None:
            from chalicelib.messaging import relay

            handler = lambda event: relay.handle_records(event["Records"])  # noqa: E731
        result = DrainResult()
        for _ in range(max_rounds):
            with self.store.lock:
                state = self.store.state
                batch = state.stream[state.stream_read : state.stream_read + 100]
            if not batch:
                break
            result.records += len(batch)
            result.handed += len(batch)
            answer = handler({"Records": [dict(record, eventSourceARN="memory") for record in batch]})
            failures = [f["itemIdentifier"] for f in answer.get("batchItemFailures") or []]
            if failures:
                result.failed += 1
                sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
                state.stream_read += sequences.index(failures[0]) if failures[0] in sequences else 0
                break
            state.stream_read += len(batch)
        return result

    # ---- seeding once per session: a copy of the whole state ----

    def snapshot(self) -> State:
        with self.store.lock:
            return copy.deepcopy(self.store.state)

    def restore(self, state: State) -> None:
        with self.store.lock:
            self.store.state = copy.deepcopy(state)
            for capability in self.capabilities:
                capability.state = self.store.state
