"""Staff editing existing slots: capacity up or down, closing and reopening one slot; and the
rule that a schedule may not lay slots over existing ones of the same location."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import clock
from chalicelib.booking import audit, waitlist
from chalicelib.booking.common import require_staff_of
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.events import after_commit
from chalicelib.domain.model import Slot
from chalicelib.domain.people import Principal
from chalicelib.domain.slots import parse_slot_id
from chalicelib.errors import Conflict, NotFound
from chalicelib.storage import repository, staffwork

if TYPE_CHECKING:
    from chalicelib.booking.commands import ChangeSlot

ATTEMPTS = 4


def _slot_missing() -> NotFound:
    return NotFound("No such slot.", code="slot_not_found")


@dataclass(frozen=True)
class SlotState:
    slot: Slot
    taken: int
    free: int


def state_of(slot: Slot) -> SlotState:
    now = clock.now()
    return SlotState(slot, len(slot.taken_places(now)), len(slot.free_places(now)))


def change(principal: Principal, slot_id: str, body: ChangeSlot) -> SlotState:
    """PATCH /admin/slots/{id}. Lowering below the places taken is 409 capacity_below_taken; a
    place freed by raising or reopening goes to the waitlist first."""
    ref = parse_slot_id(slot_id)
    if ref is None:
        raise _slot_missing()
    tb = get_timebook(ref.timebook_id)
    require_staff_of(principal, tb.her_id, _slot_missing())
    for _ in range(ATTEMPTS):
        slot = repository.get_slot(ref, consistent=True)
        if slot is None:
            raise _slot_missing()
        old = int(slot.capacity)
        if body.capacity is not None and body.capacity < old:
            _check_lowering(slot, body.capacity)
        record = audit.record(
            principal,
            tb.id,
            "slot_changed",
            slot.slot_id,
            **{k: v for k, v in {"capacity": body.capacity, "closed": body.closed}.items() if v is not None},
            capacity_before=old,
        )
        try:
            staffwork.change_slot(ref, old, body.capacity, body.closed, record, clock.epoch())
        except repository.ConditionFailed:
            continue  # changed meanwhile (another edit, a new claim above the new capacity): look again
        if (body.capacity or 0) > old or body.closed is False:
            after_commit(freed=[slot.slot_id])
        fresh = repository.get_slot(ref, consistent=True)
        assert fresh is not None
        if body.closed and waitlist.take_back_offers(fresh):
            after_commit(freed_in=tb.id)  # those waiting again may find a place elsewhere
            fresh = repository.get_slot(ref, consistent=True) or fresh
        return state_of(fresh)
    raise Conflict("The slot changed meanwhile; please try again.", code="conflict")


def _check_lowering(slot: Slot, capacity: int) -> None:
    """Places are numbered; a claim stays on its place, so the places a lower capacity removes
    must be free. Refused with the count of places taken (and which are in the way)."""
    taken = slot.taken_places(clock.now())
    if len(taken) > capacity:
        raise Conflict(
            f"{len(taken)} places are taken; the capacity cannot be lower than that.", code="capacity_below_taken"
        )
    in_the_way = [p for p in taken if p >= capacity]
    if in_the_way:
        raise Conflict(
            f"Places {', '.join(str(p + 1) for p in in_the_way)} are taken; the capacity can be lowered to "
            f"{max(in_the_way) + 1} now, or lower once they are free.",
            code="capacity_below_taken",
        )


# ---- schedules: no window over existing slots ---------------------------------------------------


def check_no_overlap(timebook_id: str, location_id: str, new_slots: Sequence[Slot]) -> None:
    """A schedule may repeat existing slots exactly (posting the same window again makes none
    twice) but not lay different ones over them: 409 `overlap`."""
    if not new_slots:
        return
    starts = [datetime.fromisoformat(s.start) for s in new_slots]
    first, last = clock.local(min(starts)).date(), clock.local(max(starts)).date()
    existing = [
        (datetime.fromisoformat(s.start), datetime.fromisoformat(s.end))
        for s in repository.slots_between(timebook_id, first, last, location_id)
    ]
    if not existing:
        return
    same = set(existing)
    existing.sort()
    for slot in sorted(new_slots, key=lambda s: s.start):
        start, end = datetime.fromisoformat(slot.start), datetime.fromisoformat(slot.end)
        if (start, end) in same:
            continue
        clash = next((e for e in existing if e[0] < end and start < e[1]), None)
        if clash is not None:
            raise Conflict(
                f"The schedule overlaps existing slots of this location, first at "
                f"{clock.local(clash[0]).isoformat(timespec='minutes')}.",
                code="overlap",
            )
