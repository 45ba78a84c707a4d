"""The hold rule (domain/holds.py), no AWS: a hold may be used only while live, by its owner,
before its slot begins; and a person's hold replaces only a live one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import capacity, holds
from chalicelib.domain.capacity import Claim
from chalicelib.domain.holds import Refusal, refusal
from chalicelib.domain.waitlist import Offer

pytestmark = pytest.mark.fast

NOW = 1_900_000_000
SLOT_ID = "tb1a_loc2b_203003311000"
OWNER = "24085038849"
HOLD_ID = holds.new_hold_id(SLOT_ID, 2, lane=None, minutes=15, for_pid=OWNER)


def held(expires_at: int = NOW + 600, ref: str = HOLD_ID, owner: str = OWNER) -> Claim:
    return Claim("hold", ref, owner, expires_at)


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_a_live_hold_of_its_owner_before_the_slot_begins_may_be_used() -> None:
    assert refusal(held(), HOLD_ID, OWNER, NOW) is None
    assert refusal(held(), HOLD_ID, OWNER, NOW, slot_start=at(NOW + 3600)) is None


def test_a_hold_its_place_no_longer_carries_is_gone() -> None:
    assert refusal(None, HOLD_ID, OWNER, NOW) is Refusal.GONE, "released, or its place tidied"
    other = holds.new_hold_id(SLOT_ID, 2, lane=None, minutes=15, for_pid=OWNER)
    assert refusal(held(ref=other), HOLD_ID, OWNER, NOW) is Refusal.GONE, "replaced by a newer hold"
    booked = Claim("appointment", "ap_1", OWNER, capacity.NEVER_EXPIRES)
    assert refusal(booked, HOLD_ID, OWNER, NOW) is Refusal.GONE, "used: the place carries the appointment"


def test_somebody_elses_hold_may_not_be_used() -> None:
    assert refusal(held(owner="someone-else"), HOLD_ID, OWNER, NOW) is Refusal.NOT_OWNER


def test_an_expired_hold_may_not_be_used_from_its_expiry_second_on() -> None:
    assert refusal(held(expires_at=NOW + 1), HOLD_ID, OWNER, NOW) is None
    assert refusal(held(expires_at=NOW), HOLD_ID, OWNER, NOW) is Refusal.EXPIRED
    assert refusal(held(expires_at=NOW - 60), HOLD_ID, OWNER, NOW) is Refusal.EXPIRED


def test_a_hold_of_a_slot_that_has_begun_may_not_be_used() -> None:
    assert refusal(held(), HOLD_ID, OWNER, NOW, slot_start=at(NOW)) is Refusal.BEGUN
    assert refusal(held(), HOLD_ID, OWNER, NOW, slot_start=at(NOW - 1)) is Refusal.BEGUN
    assert holds.begun(at(NOW), at(NOW)) and not holds.begun(at(NOW + 1), at(NOW))


def test_gone_is_said_before_whose_and_whose_before_expired() -> None:
    """A stranger learns nothing of a hold that is gone; an owner is told theirs expired."""
    assert refusal(held(ref="x", owner="someone-else", expires_at=NOW), HOLD_ID, OWNER, NOW) is Refusal.GONE
    assert refusal(held(owner="someone-else", expires_at=NOW), HOLD_ID, OWNER, NOW) is Refusal.NOT_OWNER


@given(expires_at=st.integers(NOW - 10_000, NOW + 10_000), now=st.integers(NOW - 10_000, NOW + 10_000))
def test_a_hold_is_live_exactly_while_its_place_is_not_free(expires_at: int, now: int) -> None:
    """The hold rule and the capacity rule draw the same line: a hold that may no longer be used
    (expired) frees its place at the same second, so no place is ever both blocked and unusable."""
    claim = held(expires_at=expires_at)
    assert holds.is_live(expires_at, now) == (not capacity.place_is_free(claim, now))
    assert (refusal(claim, HOLD_ID, OWNER, now) is None) == holds.is_live(expires_at, now)
    offer = Offer(HOLD_ID, SLOT_ID, 2, "", "", expires_at)
    assert offer.live(now) == holds.is_live(expires_at, now), "a waitlist offer is a hold"


def test_only_a_live_hold_is_replaced() -> None:
    live = holds.live_hold(HOLD_ID, NOW + 1, NOW)
    assert live is not None and (live.slot_id, live.place) == (SLOT_ID, 2)
    assert holds.live_hold(HOLD_ID, NOW, NOW) is None, "expired: nothing to free"
    assert holds.live_hold(None, NOW + 600, NOW) is None
    assert holds.live_hold("not-a-hold-id", NOW + 600, NOW) is None


def test_a_hold_expires_after_its_minutes() -> None:
    taken = at(NOW)
    assert holds.hold_expires_at(taken, 10) == taken + timedelta(minutes=10)
