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

MAX_WINDOW_DAYS = 366
MAX_SLOTS_PER_WINDOW = 20_000


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
    start: datetime  # aware, Europe/Oslo
    end: datetime

    @property
    def local_date(self) -> date:
        return self.start.date()


def _exists(wall: datetime) -> bool:
    """A wall-clock time exists in Oslo unless it falls in the spring-forward gap."""
    aware = wall.replace(tzinfo=OSLO)
    return aware.astimezone(UTC).astimezone(OSLO).replace(tzinfo=None) == wall


def slot_times(hours: OpeningHours) -> Iterator[SlotTime]:
    step = timedelta(minutes=hours.slot_minutes)
    day = hours.date_from
    while day <= hours.date_to:
        if day.isoweekday() in hours.weekdays:
            wall = datetime.combine(day, hours.start_time)
            close = datetime.combine(day, hours.end_time)
            while wall + step <= close:
                if _exists(wall) and _exists(wall + step):
                    # fold=0: an ambiguous autumn time means its first occurrence.
                    yield SlotTime(wall.replace(tzinfo=OSLO), (wall + step).replace(tzinfo=OSLO))
                wall += step
        day += timedelta(days=1)


_SLOT_ID = re.compile(r"^(?P<timebook>[a-z0-9]+)_(?P<location>[a-z0-9]+)_(?P<stamp>\d{12})$")


@dataclass(frozen=True)
class SlotRef:
    """What a slot id says: which timebook, which location, which local start."""

    timebook_id: str
    location_id: str
    local_start: datetime  # naive wall clock in Oslo

    @property
    def slot_id(self) -> str:
        return f"{self.timebook_id}_{self.location_id}_{self.local_start:%Y%m%d%H%M}"

    @property
    def local_date(self) -> date:
        return self.local_start.date()


def slot_ref(timebook_id: str, location_id: str, start: datetime) -> SlotRef:
    return SlotRef(timebook_id, location_id, start.astimezone(OSLO).replace(tzinfo=None))


def parse_slot_id(slot_id: str) -> SlotRef | None:
    """Slot ids are deterministic, so posting the same window twice names the same slots."""
    match = _SLOT_ID.match(slot_id or "")
    if not match:
        return None
    try:
        local_start = datetime.strptime(match["stamp"], "%Y%m%d%H%M")
    except ValueError:
        return None
    return SlotRef(match["timebook"], match["location"], local_start)
