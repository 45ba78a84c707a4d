"""The hold rule: a hold is a short claim on one place while the citizen fills in step 5.

    A hold may be used (become an appointment) only while it is live (not expired), only by
    its owner (who took it), and only before its slot begins.

`refusal` decides it for a place as read; the use cases follow it to say why a hold could not
be used, and storage states the same rule as the condition of the booking transaction
(`storage.claims.hold_is_usable`: the place still carries this hold id, of this owner, not
expired), so a hold is never used against it. The slot's start is in the hold id, so "not
begun" is checked from the id before the write (`begun`), with no read.

A person has at most one live hold per timebook: their person item names it (`live_hold`), and
a new hold (or a waitlist offer) replaces it, freeing its place, in the same transaction.

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
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from chalicelib.domain.capacity import Claim
from chalicelib.domain.slots import begun

DEFAULT_HOLD_MINUTES = 10
NO_LANE = "x"

_HOLD_ID = re.compile(
    r"^h(?P<place>\d{1,4})l(?P<lane>\d{1,3}|x)_(?P<nonce>[a-z0-9]{10})_(?P<minutes>\d{1,4})_"
    r"(?P<tag>[0-9a-f]{3})_(?P<slot>[a-z0-9_]+)$"
)


@dataclass(frozen=True)
class HoldRef:
    """What a hold id says: its slot, place, lane, length, whom it is for, and whether it is an offer."""

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


# ---- the rule ------------------------------------------------------------------------------------


class Refusal(StrEnum):
    """Why a hold cannot be used now."""

    GONE = "gone"  # its place no longer carries it: used, released, replaced, or retaken after it lapsed
    NOT_OWNER = "not_owner"  # somebody else's hold
    EXPIRED = "expired"  # its time ran out (its place is free by the capacity rule)
    BEGUN = "begun"  # its slot has begun


def is_live(expires_at: int, now_epoch: int) -> bool:
    """A hold lives until its expiry second (exclusive): the same comparison as the capacity rule's."""
    return expires_at > now_epoch


def refusal(
    claim: Claim | None, hold_id: str, owner: str, now_epoch: int, slot_start: datetime | None = None
) -> Refusal | None:
    """None if the hold may be used now, else why not: gone, not the owner's, expired, begun (in
    that order: a gone hold is gone whoever asks). `claim` is what the hold's place carries."""
    if claim is None or claim.ref != hold_id:
        return Refusal.GONE
    if claim.owner != owner:
        return Refusal.NOT_OWNER
    if not is_live(claim.expires_at, now_epoch):
        return Refusal.EXPIRED
    if slot_start is not None and begun(slot_start, datetime.fromtimestamp(now_epoch, UTC)):
        return Refusal.BEGUN
    return None


def live_hold(hold_id: str | None, expires_at: int | None, now_epoch: int) -> HoldRef | None:
    """A person's current hold as their person item names it, if it is still live (a new hold
    replaces it and frees its place); an expired one is nothing to free."""
    if not hold_id or not is_live(int(expires_at or 0), now_epoch):
        return None
    return parse_hold_id(hold_id)
