"""The hold rule: a hold is a short claim on one place while the citizen fills in step 5.

A hold may become an appointment only while it is live (not expired) and only for the person
who took it. The storage layer checks both in the same transaction that writes the appointment.
A person has at most one live hold per timebook: their person item names it, and a new hold
replaces it (frees its place) in the same transaction.

Hold ids name everything the booking needs, so that step 5 writes without reading the slot:
the slot, the place, the slot's length in minutes, the person lane it will take (when the
timebook limits active appointments per person) and a short tag of whom it is for. A forged
id gains nothing: the booking's conditions compare the exact id with the slot's claim and the
person's current hold.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_HOLD_MINUTES = 10
MAX_HOLD_MINUTES = 60
NO_LANE = "x"

_HOLD_ID = re.compile(
    r"^h(?P<place>\d{1,4})l(?P<lane>\d{1,3}|x)_(?P<nonce>[a-z0-9]{10})_(?P<minutes>\d{1,4})_"
    r"(?P<tag>[0-9a-f]{3})_(?P<slot>[a-z0-9_]+)$"
)


@dataclass(frozen=True)
class HoldRef:
    slot_id: str
    place: int
    hold_id: str
    lane: int | None = None  # the person lane the appointment takes; None: no per-person limit
    minutes: int = 0  # the slot's length
    tag: str = ""  # person_tag of whom the place is for
    offer: bool = False  # a waitlist offer (booking it also marks the waitlist entry booked)

    def is_for(self, pid: str) -> bool:
        return person_tag(pid) == self.tag


def person_tag(pid: str) -> str:
    """Three hex digits of a hash: enough to tell apart the few people one caller acts for, and
    far too few to say whose number it is (thousands of valid numbers share each tag)."""
    return hashlib.sha256(pid.encode()).hexdigest()[:3]


def new_hold_id(slot_id: str, place: int, *, lane: int | None, minutes: int, for_pid: str, offer: bool = False) -> str:
    lane_text = NO_LANE if lane is None else str(lane)
    # An offer's nonce starts with "w" (never a hex digit), so step 5 knows it without a read.
    nonce = "w" + secrets.token_hex(5)[1:] if offer else secrets.token_hex(5)
    return f"h{place}l{lane_text}_{nonce}_{minutes}_{person_tag(for_pid)}_{slot_id}"


def parse_hold_id(hold_id: str) -> HoldRef | None:
    match = _HOLD_ID.match(hold_id or "")
    if not match:
        return None
    lane = None if match["lane"] == NO_LANE else int(match["lane"])
    offer = match["nonce"].startswith("w")
    return HoldRef(match["slot"], int(match["place"]), hold_id, lane, int(match["minutes"]), match["tag"], offer)


def hold_expires_at(now: datetime, hold_minutes: int) -> datetime:
    return now + timedelta(minutes=hold_minutes)
