"""What a citizen asks: a hold, an appointment (a place on the waitlist: commands/waitlist.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TakeHold:
    """A hold on one slot, or on the first available time of a timebook (from `date`)."""

    slot_id: str | None = None
    timebook_id: str | None = None
    location_id: str | None = None
    date: dt.date | None = None
    for_pid: str | None = None


@dataclass(frozen=True)
class BookAppointment:
    """Step 5: from a hold or straight from a slot, with the form's answers."""

    phone: str
    hold_id: str | None = None
    slot_id: str | None = None
    for_pid: str | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    # Part of the Idempotency-Key's request hash only when true (idempotency.request_hash_of):
    # a body without it hashes as before it existed.
    sms_to_phone: bool = field(default=False, metadata={"hashed_when_set": True})
