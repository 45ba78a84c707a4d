"""What a citizen asks of the waitlist: its own area, so a booking's cold start does not build it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class JoinWaitlist:
    """Join a timebook's waitlist."""

    timebook_id: str
    location_id: str | None = None
    window_from: dt.datetime | None = None
    window_to: dt.datetime | None = None
    for_pid: str | None = None
