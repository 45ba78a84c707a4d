"""What the use cases that take a place share: naming a slot, reading one about to be taken, its
length, the per-person limit of a timebook, the answers when a place cannot be had, and the short
wait before a retry after a lost race (holds, appointments, reschedules, waitlist offers)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from chalicelib import clock
from chalicelib.booking import closed_ranges
from chalicelib.domain.model import Slot, Timebook
from chalicelib.domain.slots import SlotRef, parse_slot_id
from chalicelib.errors import Conflict, NotFound
from chalicelib.storage import repository


def slot_unavailable() -> Conflict:
    return Conflict("That time is no longer free. Please choose another.", code="slot_unavailable")


def parse_slot(slot_id: str) -> SlotRef:
    ref = parse_slot_id(slot_id)
    if ref is None:
        raise NotFound("No such slot.", code="slot_not_found")
    return ref


def jitter() -> None:
    """A transaction lost to a concurrent one on the same item: wait a little, at random, so the
    retries of a crowd do not collide again."""
    clock.sleep(random.uniform(0.005, 0.05))


@dataclass(frozen=True, eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class Bookable:
    """A slot as just read, when it could still be taken: the moment of reading, its free places."""

    slot: Slot
    now: datetime
    free: list[int]

    def random_free_place(self) -> int:
        """Choosing at random among free places makes concurrent takers collide less often."""
        if not self.free:
            raise slot_unavailable()
        return random.choice(self.free)


def bookable_slot(slot: Slot | None) -> Bookable:
    """A slot just read for a write about to take one of its places; one that has begun is not."""
    if slot is None:
        raise NotFound("No such slot.", code="slot_not_found")
    now = clock.now()
    if slot.begun(now) or closed_ranges.closed(slot.timebook_id, slot.location_id, slot.starts_at):
        raise slot_unavailable()  # begun, or in a closure's range not yet closed slot by slot
    return Bookable(slot, now, slot.free_places(now))


def bookable(ref: SlotRef) -> Bookable:
    """Read a slot (consistently) for a write about to take one of its places."""
    return bookable_slot(repository.get_slot(ref, consistent=True))


def limit_of(tb: Timebook) -> int | None:
    """The timebook's per-person limit of active appointments, if it has one."""
    return tb.max_active_per_person or None
