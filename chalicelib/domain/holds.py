"""The hold rule: a hold is a short claim on one place while the citizen fills in step 5.

A hold may become an appointment only while it is live (not expired) and only for the person
who took it. The storage layer checks both in the same transaction that writes the appointment.
Hold ids name their slot and place so that a hold needs no item of its own: the claim on the
slot's place *is* the hold.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_HOLD_MINUTES = 10
MAX_HOLD_MINUTES = 60

_HOLD_ID = re.compile(r"^h(?P<place>\d{1,4})_(?P<nonce>[a-z0-9]{10})_(?P<slot>[a-z0-9_]+)$")


@dataclass(frozen=True)
class HoldRef:
    slot_id: str
    place: int
    hold_id: str


def new_hold_id(slot_id: str, place: int) -> str:
    return f"h{place}_{secrets.token_hex(5)}_{slot_id}"


def parse_hold_id(hold_id: str) -> HoldRef | None:
    match = _HOLD_ID.match(hold_id or "")
    if not match:
        return None
    return HoldRef(match["slot"], int(match["place"]), hold_id)


def hold_expires_at(now: datetime, hold_minutes: int) -> datetime:
    return now + timedelta(minutes=hold_minutes)
