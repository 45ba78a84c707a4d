"""Holds (step 4): a short claim on one place while the citizen fills in step 5."""

from __future__ import annotations

import random
import time as _time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from chalicelib import clock
from chalicelib.booking import discovery, waitlist
from chalicelib.booking.common import IDEMPOTENCY_SECONDS, idempotency_record, request_hash_of, require_citizen
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain.capacity import Candidate, Claim, free_places, spread_choice
from chalicelib.domain.holds import new_hold_id, parse_hold_id
from chalicelib.domain.people import Principal
from chalicelib.domain.slots import SlotRef, parse_slot_id
from chalicelib.errors import Conflict, NotFound
from chalicelib.http.schemas import HoldIn
from chalicelib.storage import repository
from chalicelib.storage.models import SlotItem

# How many of the earliest free places a "first available" request chooses among at random.
FIRST_AVAILABLE_WINDOW = 24
ATTEMPTS = 6
SCOPE = "holds"
# In a surge most "first available" requests come after the last place is gone, and each would
# read months of full slots to say so. A sold-out answer is remembered briefly in this process;
# a place freed meanwhile is found by the next request after the memo lapses.
SOLD_OUT_MEMO_SECONDS = 2.0
_sold_out: dict[tuple[str, str | None, date], float] = {}


@dataclass(frozen=True)
class Hold:
    id: str
    slot: SlotItem
    expires_at: datetime


def slot_unavailable() -> Conflict:
    return Conflict("That time is no longer free. Please choose another.", code="slot_unavailable")


def parse_slot(slot_id: str) -> SlotRef:
    ref = parse_slot_id(slot_id)
    if ref is None:
        raise NotFound("No such slot.", code="slot_not_found")
    return ref


@dataclass(frozen=True)
class Key:
    """A client's Idempotency-Key with the hash of the request it came with."""

    key: str
    request_hash: str


@dataclass(frozen=True)
class Bookable:
    """A slot as just read, when it could still be taken: the moment of reading, its free places."""

    slot: SlotItem
    now: datetime
    free: list[int]

    def random_free_place(self) -> int:
        """Choosing at random among free places makes concurrent takers collide less often."""
        if not self.free:
            raise slot_unavailable()
        return random.choice(self.free)


def bookable(ref: SlotRef) -> Bookable:
    """Read a slot (consistently) for a write about to take one of its places; a slot that has
    begun is no longer bookable."""
    slot = repository.get_slot(ref, consistent=True)
    if slot is None:
        raise NotFound("No such slot.", code="slot_not_found")
    now = clock.now()
    if datetime.fromisoformat(slot.start) <= now:
        raise slot_unavailable()
    free = free_places(int(slot.capacity), repository.claims_of(slot), clock.epoch(now), bool(slot.closed))
    return Bookable(slot, now, free)


def _take(
    principal: Principal, ref: SlotRef, place: int, slot: SlotItem, hold_minutes: int, key: Key | None = None
) -> Hold:
    now = clock.now()
    hold_id = new_hold_id(ref.slot_id, place)
    expires = now + timedelta(minutes=hold_minutes)
    claim = Claim("hold", hold_id, principal.sub, clock.epoch(expires))
    record = None
    if key is not None:
        record = repository.new_idempotency(
            principal.sub, SCOPE, key.key, key.request_hash, hold_id, clock.epoch(now) + IDEMPOTENCY_SECONDS
        )
        record.result_expires_at = clock.epoch(expires)
    try:
        repository.take_place_for_hold(ref, place, claim, clock.epoch(now), record)
    except repository.ConditionFailed as lost:
        if key is not None and "idempotency" in lost.failed and (again := _replay(principal, key)):
            raise _Replayed(again) from lost
        raise
    return Hold(hold_id, slot, expires)


class _Replayed(Exception):
    """A concurrent retry with the same key won: answer its hold."""

    def __init__(self, hold: Hold) -> None:
        self.hold = hold


def _replay(principal: Principal, key: Key) -> Hold | None:
    record = idempotency_record(principal, SCOPE, key.key, key.request_hash)
    ref = parse_hold_id(record.result_id) if record else None
    slot_ref = parse_slot_id(ref.slot_id) if ref else None
    slot = repository.get_slot(slot_ref) if slot_ref else None
    if record is None or slot is None:
        return None
    return Hold(record.result_id, slot, datetime.fromtimestamp(int(record.result_expires_at or 0), UTC))


def hold(principal: Principal, body: HoldIn, idempotency_key: str | None = None) -> tuple[Hold, bool]:
    """POST /holds: by slot, or the first available time; a repeated key answers the same hold."""
    require_citizen(principal)
    key = Key(idempotency_key, request_hash_of(body)) if idempotency_key else None
    if key and (replayed := _replay(principal, key)):
        return replayed, False
    try:
        if body.slot_id:
            return hold_slot(principal, body.slot_id, key), True
        return hold_first_available(principal, body.timebook_id or "", body.location_id, body.date, key), True
    except _Replayed as replayed:
        return replayed.hold, False


def hold_slot(principal: Principal, slot_id: str, key: Key | None = None) -> Hold:
    """Hold a place in one chosen slot; a lost race tries another free place of the same slot."""
    require_citizen(principal)
    ref = parse_slot(slot_id)
    tb = get_timebook(ref.timebook_id)
    for _ in range(ATTEMPTS):
        found = bookable(ref)
        try:
            return _take(principal, ref, found.random_free_place(), found.slot, int(tb.hold_minutes), key)
        except repository.ConditionFailed:
            continue
    raise slot_unavailable()


def hold_first_available(
    principal: Principal, timebook_id: str, location_id: str | None, from_day: date | None, key: Key | None = None
) -> Hold:
    """Hold the first available time, spreading a crowd over the earliest free places."""
    require_citizen(principal)
    tb = get_timebook(timebook_id)
    today = clock.local(clock.now()).date()
    start_day = max(from_day or today, today)
    sold_out_key = (tb.id, location_id, start_day)
    if _sold_out.get(sold_out_key, 0.0) > _time.monotonic():
        raise _no_free_time()
    lost: set[Candidate] = set()
    for _ in range(ATTEMPTS):
        candidates: list[Candidate] = []
        slots: dict[str, SlotItem] = {}
        for availability in discovery.first_free(tb.id, location_id, start_day):
            slots[availability.slot.slot_id] = availability.slot
            candidates.extend(
                c for p in availability.free if (c := Candidate(availability.slot.slot_id, p)) not in lost
            )
            if len(candidates) >= FIRST_AVAILABLE_WINDOW:
                break
        choice = spread_choice(candidates, FIRST_AVAILABLE_WINDOW)
        if choice is None:
            _sold_out[sold_out_key] = _time.monotonic() + SOLD_OUT_MEMO_SECONDS
            raise _no_free_time()
        ref = parse_slot(choice.slot_id)
        try:
            return _take(principal, ref, choice.place, slots[choice.slot_id], int(tb.hold_minutes), key)
        except repository.ConditionFailed:
            lost.add(choice)
    raise slot_unavailable()


def _no_free_time() -> Conflict:
    return Conflict("No free time found.", code="slot_unavailable")


def release_hold(principal: Principal, hold_id: str) -> None:
    """Give a hold back; only its owner can, and a hold that is gone is not found."""
    require_citizen(principal)
    ref = parse_hold_id(hold_id)
    slot_ref = parse_slot_id(ref.slot_id) if ref else None
    if ref is None or slot_ref is None:
        raise NotFound("No such hold.", code="hold_not_found")
    try:
        repository.release_place(slot_ref, ref.place, hold_id, owner=principal.sub)
    except repository.ConditionFailed as error:
        raise NotFound("No such hold.", code="hold_not_found") from error
    waitlist.places_freed(ref.slot_id)
