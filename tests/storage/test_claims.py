"""The conditions of storage/claims.py say the domain's rules, on moto: a write guarded by
`hold_is_usable` succeeds exactly when domain/holds.refusal finds nothing against the hold, and
one guarded by `place_is_free` exactly when domain/capacity finds the place free."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import clock
from chalicelib.domain import capacity, holds
from chalicelib.domain.capacity import Claim
from chalicelib.domain.model import Slot
from chalicelib.domain.slots import SlotRef, slot_ref
from chalicelib.storage import claims, keys
from chalicelib.storage.models import SlotItem
from chalicelib.storage.transactions import is_condition_failure
from tests.conftest import moto_aws

pytestmark = pytest.mark.fast

NOW = 1_900_000_000
OWNER = "24085038849"
PLACE = 1


@pytest.fixture(scope="module")
def slot() -> Iterator[SlotRef]:
    with moto_aws():
        ref = slot_ref("tb1a", "loc2b", clock.local(clock.now()) + timedelta(days=3))
        yield ref


def _put(ref: SlotRef, claim: Claim | None, closed: bool = False) -> None:
    pk, sk = keys.slot(ref)
    SlotItem(
        pk,
        sk,
        slot_id=ref.slot_id,
        timebook_id=ref.timebook_id,
        location_id=ref.location_id,
        start=ref.start.isoformat(),
        end=(ref.start + timedelta(minutes=15)).isoformat(),
        capacity=2,
        places={str(PLACE): claim.as_item()} if claim else {},
        closed=closed or None,
    ).save()


def _slot(ref: SlotRef, claims: dict[int, Claim] | None = None, closed: bool = False) -> Slot:
    start = ref.start.isoformat()
    return Slot(ref.slot_id, ref.timebook_id, ref.location_id, start, start, 2, closed, claims or {})


def _written(ref: SlotRef, condition: object) -> bool:
    try:
        claims.slot_key_item(ref).update(actions=[SlotItem.end.set("touched")], condition=condition)
    except Exception as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def _hold(slot_id: str) -> str:
    return holds.new_hold_id(slot_id, PLACE, lane=None, minutes=15, for_pid=OWNER)


CASES = {
    "live, own": lambda h: Claim("hold", h, OWNER, NOW + 60),
    "expires this second": lambda h: Claim("hold", h, OWNER, NOW),
    "expired": lambda h: Claim("hold", h, OWNER, NOW - 60),
    "someone else's": lambda h: Claim("hold", h, "someone-else", NOW + 60),
    "another hold": lambda h: Claim("hold", h + "0", OWNER, NOW + 60),
    "booked": lambda h: Claim("appointment", "ap_1", OWNER, capacity.NEVER_EXPIRES),
    "no claim": lambda h: None,
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_booking_condition_is_the_hold_rule(slot: SlotRef, case: str) -> None:
    hold_id = _hold(slot.slot_id)
    claim = CASES[case](hold_id)
    _put(slot, claim)
    allowed = holds.refusal(claim, hold_id, OWNER, NOW) is None
    assert _written(slot, claims.hold_is_usable(PLACE, hold_id, OWNER, NOW)) == allowed


@pytest.mark.parametrize("case", list(CASES))
def test_the_taking_condition_is_the_capacity_rule(slot: SlotRef, case: str) -> None:
    claim = CASES[case](_hold(slot.slot_id))
    _put(slot, claim)
    free = _slot(slot, {PLACE: claim} if claim else {}).free_places(datetime.fromtimestamp(NOW, UTC))
    assert _written(slot, claims.place_is_free(PLACE, NOW)) == (PLACE in free)


def test_a_closed_slot_takes_no_claim_and_no_booking_from_a_hold(slot: SlotRef) -> None:
    hold_id = _hold(slot.slot_id)
    _put(slot, Claim("hold", hold_id, OWNER, NOW + 60), closed=True)
    assert not _written(slot, claims.hold_is_usable(PLACE, hold_id, OWNER, NOW))
    _put(slot, None, closed=True)
    assert _slot(slot, closed=True).free_places(datetime.fromtimestamp(NOW, UTC)) == []
    assert not _written(slot, claims.place_is_free(PLACE, NOW))
