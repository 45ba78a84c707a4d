"""The capacity rule, in one place.

A slot has `capacity` places, numbered 0..capacity-1 (the lanes of a test station). Each place
holds at most one claim: a hold (expires) or an appointment (never expires while active).

    A place is free when it has no claim, or its claim has expired, and the slot is not closed.

Free places of a slot are therefore counted without any cleanup having run: an expired hold is
simply free. `domain.model.Slot.free_places(now)` applies this to a slot as read, closed flag
included, so no reader can leave one of them out. The storage module states the same rule as a DynamoDB condition
(`storage.claims.place_is_free`) so the write that takes a place cannot overbook.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# Appointments occupy their place "forever": far beyond any slot, still a plain number so the
# same `expires_at > now` comparison covers holds and appointments.
NEVER_EXPIRES = 9_999_999_999

ClaimKind = Literal["hold", "appointment"]


@dataclass(frozen=True)
class Claim:
    """One place's claim in a slot: a hold or an appointment, live until `expires_at`."""

    kind: ClaimKind
    ref: str  # hold id or appointment id
    owner: str  # the person who took it (the token's sub)
    expires_at: int  # epoch seconds
    waitlist: str = ""  # the waitlist entry a hold was offered to, if it is an offer

    def live(self, now_epoch: int) -> bool:
        return self.expires_at > now_epoch

    def as_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"kind": self.kind, "ref": self.ref, "owner": self.owner, "expires_at": self.expires_at}
        if self.waitlist:
            item["waitlist"] = self.waitlist
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Claim:
        return cls(item["kind"], item["ref"], item["owner"], int(item["expires_at"]), str(item.get("waitlist") or ""))


def place_is_free(claim: Claim | None, now_epoch: int) -> bool:
    return claim is None or not claim.live(now_epoch)


def free_places(capacity: int, claims: Mapping[int, Claim], now_epoch: int) -> list[int]:
    """The free places among the first `capacity`; a slot's own count (closed or not) is
    `domain.model.Slot.free_places`, the one every reader uses."""
    return [p for p in range(capacity) if place_is_free(claims.get(p), now_epoch)]


def taken_places(claims: Mapping[int, Claim], now_epoch: int) -> list[int]:
    """Places carrying a live claim (a live hold or an active appointment)."""
    return sorted(p for p, c in claims.items() if c.live(now_epoch))


def count(claims: Mapping[int, Claim], kind: ClaimKind, now_epoch: int) -> int:
    return sum(1 for c in claims.values() if c.kind == kind and c.live(now_epoch))


@dataclass(frozen=True)
class Candidate:
    """A free place somebody may try to take."""

    slot_id: str
    place: int


def spread_choice(candidates: Sequence[Candidate], window: int, rng: random.Random | None = None) -> Candidate | None:
    """Pick one of the first `window` free places at random.

    "First available" for a crowd: if everyone took the earliest place they would all collide
    on it; choosing at random among the earliest `window` places keeps the answer early while
    making collisions rare (each conflict costs a retry).
    """
    if not candidates:
        return None
    rng = rng or random
    return rng.choice(list(candidates[:window]))
