"""The rules on the domain's objects: each has one home, and these are its unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.closures import Closure
from chalicelib.domain.forms import Form
from chalicelib.domain.limits import Lane
from chalicelib.domain.model import HealthContactRef, Person, Resource, Slot, Timebook
from chalicelib.domain.people import Principal, whom_for
from chalicelib.domain.queue import WaitingRoom, Wave
from chalicelib.domain.waitlist import Window
from chalicelib.errors import Conflict, Forbidden, InvalidInput
from tests.factories import make_pid

pytestmark = pytest.mark.fast

NOW = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())
PARENT, CHILD = make_pid(1), make_pid(2)


def _slot(capacity: int = 3, closed: bool = False, **claims: Claim) -> Slot:
    start = (NOW + timedelta(hours=1)).isoformat()
    end = (NOW + timedelta(hours=1, minutes=15)).isoformat()
    return Slot(
        "tb_loc_203003011000", "tb", "loc", start, end, capacity, closed, {int(p[1:]): c for p, c in claims.items()}
    )


def test_free_places_count_capacity_claims_expired_holds_and_the_closed_flag() -> None:
    booked = Claim("appointment", "ap1", PARENT, NEVER_EXPIRES)
    live = Claim("hold", "h1", PARENT, EPOCH + 60)
    lapsed = Claim("hold", "h2", PARENT, EPOCH)
    slot = _slot(3, p0=booked, p1=live, p2=lapsed)
    assert slot.free_places(NOW) == [2]
    assert slot.taken_places(NOW) == [0, 1]
    assert _slot(3, closed=True).free_places(NOW) == []
    assert _slot(1, p1=Claim("hold", "h", PARENT, EPOCH - 1)).free_places(NOW) == [0]  # beyond capacity: not a place
    assert slot.minutes == 15 and not slot.begun(NOW) and slot.begun(NOW + timedelta(hours=1))


def test_require_lane_is_the_one_refusal_when_every_lane_is_taken() -> None:
    assert Person("tb", PARENT).require_lane(None, NOW) is None
    assert Person("tb", PARENT).require_lane(2, NOW) == 0
    busy = Person("tb", PARENT, True, lanes={0: Lane("ap1", EPOCH + 60), 1: Lane("ap2", EPOCH)})
    assert busy.require_lane(2, NOW) == 1  # an appointment that has ended frees its lane
    with pytest.raises(Conflict) as refused:
        busy.require_lane(1, NOW)
    assert refused.value.code == "active_appointment_exists"


def test_whom_for_the_caller_or_whom_they_represent() -> None:
    parent = Principal(PARENT, "citizen", "Per", represents={CHILD: "Ola"})
    assert whom_for(parent, None) == PARENT and whom_for(parent, CHILD) == CHILD
    with pytest.raises(Forbidden) as stranger:
        whom_for(Principal(CHILD, "citizen", "Ola"), PARENT)
    assert stranger.value.code == "not_representative"
    with pytest.raises(InvalidInput) as bad:
        whom_for(parent, "12345678901")
    assert bad.value.fields[0][0] == "for_pid"


def test_a_closure_covers_slots_starting_in_its_range_at_its_location() -> None:
    end = NOW + timedelta(hours=2)
    closure = Closure("tb", "c1", "loc", NOW, end, "Strømbrudd")
    assert closure.covers("loc", NOW) and not closure.covers("loc", end) and not closure.covers("other", NOW)
    assert Closure("tb", "c2", None, NOW, end, "").covers("other", NOW)
    assert closure.meets(None, Window(None, None, None))
    assert not closure.meets("loc", Window(None, end, None)) and not closure.meets("loc", Window(None, None, NOW))
    assert not closure.meets("other", Window(None, None, None))


def test_a_timebook_is_gated_by_waves_or_a_room_that_is_on() -> None:
    """Holds and bookings load the waves' and the room's rules (booking/queue.py) only when gated."""
    plain = Timebook(
        *("tb", "Lab", "lab", ""),
        *(HealthContactRef("hc", "Legekontor"), Resource("Blodprøve"), 15, False, 10, 24, None, 30, Form()),
    )
    assert not plain.gated
    assert not replace(plain, waiting_room=WaitingRoom(enabled=False)).gated
    assert replace(plain, waiting_room=WaitingRoom(enabled=True)).gated
    assert replace(plain, waves=(Wave(datetime(2030, 1, 1, tzinfo=UTC), None, None),)).gated
