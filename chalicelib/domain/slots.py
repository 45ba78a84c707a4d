"""Opening hours become slots, per local date in Europe/Oslo.

Slots are generated on the wall clock of each local date, so a daylight-saving day still
opens at 08:00 local time; a wall-clock start that does not exist (spring forward) is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from chalicelib.clock import OSLO


@dataclass(frozen=True)
class OpeningHours:
    """A schedule window as staff post it: dates, weekdays (1 = Monday) and daily hours."""

    location_id: str
    date_from: date
    date_to: date
    weekdays: frozenset[int]
    start_time: time
    end_time: time
    slot_minutes: int
    capacity: int


@dataclass(frozen=True)
class SlotTime:
    """A slot's start and end."""

    start: datetime  # aware, Europe/Oslo
    end: datetime

    @property
    def local_date(self) -> date:
        return self.start.date()


def begun(slot_start: datetime, now: datetime) -> bool:
    """A slot that has begun takes no hold and no booking, and is not shown as bookable."""
    return slot_start <= now


def _local(day: date, wall: time) -> datetime:
    """A local opening or closing time; an ambiguous autumn time means its first occurrence."""
    return datetime.combine(day, wall).replace(tzinfo=OSLO)


def slot_times(hours: OpeningHours) -> Iterator[SlotTime]:
    """Slots of `slot_minutes` of real time from opening to closing, each local date.

    Stepping in UTC, not on the wall clock: on the spring night the slot that spans the jump
    lasts its minutes (01:45-03:00 is 15 minutes), and on the autumn night the repeated hour
    has its own slots (02:00+02:00 and 02:00+01:00 are two times), so no slot lasts 75 minutes
    and no quarter is missing."""
    step = timedelta(minutes=hours.slot_minutes)
    day = hours.date_from
    while day <= hours.date_to:
        if day.isoweekday() in hours.weekdays:
            moment = _local(day, hours.start_time).astimezone(UTC)
            close = _local(day, hours.end_time).astimezone(UTC)
            while moment + step <= close:
                yield SlotTime(moment.astimezone(OSLO), (moment + step).astimezone(OSLO))
                moment += step
        day += timedelta(days=1)


_SLOT_ID = re.compile(r"^(?P<timebook>[a-z0-9]+)_(?P<location>[a-z0-9]+)_(?P<stamp>\d{12})(?P<fold>f?)$")


@dataclass(frozen=True)
class SlotRef:
    """What a slot id says: which timebook, which location, which local start."""

    timebook_id: str
    location_id: str
    local_start: datetime  # naive wall clock in Oslo
    fold: int = 0  # 1: the second occurrence of a wall-clock time on the autumn night

    @property
    def slot_id(self) -> str:
        return f"{self.timebook_id}_{self.location_id}_{self.local_start:%Y%m%d%H%M}{'f' if self.fold else ''}"

    @property
    def start(self) -> datetime:
        """The aware start in Oslo."""
        return self.local_start.replace(tzinfo=OSLO, fold=self.fold)

    @property
    def local_date(self) -> date:
        return self.local_start.date()


def slot_ref(timebook_id: str, location_id: str, start: datetime) -> SlotRef:
    local = start.astimezone(OSLO)
    return SlotRef(timebook_id, location_id, local.replace(tzinfo=None, fold=0), local.fold)


def parse_slot_id(slot_id: str) -> SlotRef | None:
    """Slot ids are deterministic, so posting the same window twice names the same slots."""
    match = _SLOT_ID.match(slot_id or "")
    if not match:
        return None
    try:
        local_start = datetime.strptime(match["stamp"], "%Y%m%d%H%M")
    except ValueError:
        return None
    return SlotRef(match["timebook"], match["location"], local_start, 1 if match["fold"] else 0)
