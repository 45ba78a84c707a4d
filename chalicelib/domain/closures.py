"""The closure rule: staff close a location (or every location) of a timebook for a range of time.

    A closure covers every slot that starts in [start, end) at its location (all locations when
    it names none), and meets every waiting person whose window overlaps that range.

Covered slots are closed (no new holds or bookings; domain.model.Slot.offered_places) and their
active appointments cancelled (booking/closures.py runs the steps).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chalicelib.domain.waitlist import Window


def closure_id_of(location_id: str | None, start: datetime, end: datetime) -> str:
    """The same closure (place and range, whatever offset it was written with) has the same id."""
    text = f"{location_id or '*'}|{start.astimezone(UTC).isoformat()}|{end.astimezone(UTC).isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Closure:
    """Staff closing a timebook (or one of its locations) from `start` to `end`."""

    timebook_id: str
    closure_id: str
    location_id: str | None  # None: every location of the timebook
    start: datetime
    end: datetime
    reason: str
    done: dict[str, int] = field(default_factory=dict)  # what earlier runs of it did

    def covers(self, location_id: str, slot_start: datetime) -> bool:
        """A slot this closure closes."""
        if self.location_id and location_id != self.location_id:
            return False
        return self.start <= slot_start < self.end

    def meets(self, location_id: str | None, window: Window) -> bool:
        """A waiting person (location, or any, and window of start times) this closure concerns."""
        if self.location_id and location_id and location_id != self.location_id:
            return False
        if window.end is not None and window.end <= self.start:
            return False
        return window.start is None or window.start < self.end
