"""Times are ordered by instant, never by text: on the autumn night the clock shows 02:00 twice
(02:00+02:00, then an hour later 02:00+01:00), and as text the later one sorts first."""

from __future__ import annotations

from datetime import datetime


def by_instant(start: str, location_id: str = "") -> tuple[datetime, str]:
    """A sort key for things that start at `start` (ISO with offset), then by location."""
    return datetime.fromisoformat(start), location_id
