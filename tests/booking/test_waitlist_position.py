"""`position` on GET /waitlist (issue 22): a live entry's place in its timebook's line, 1-based,
counting only the live entries ahead of it; ended entries have none."""

from __future__ import annotations

import pytest

from tests.booking.waitlist_world import Small, small_world
from tests.conftest import Citizen


@pytest.fixture
def small(client, demo, staff_token, aws) -> Small:
    return small_world(client, demo, staff_token, aws["queue_url"])


def test_positions_follow_the_line_and_close_up_after_a_withdrawal(small: Small) -> None:
    holder = Citizen(51)
    small.book(holder, slot_id=small.slot_ids[0])  # the only place: everyone after this waits
    waiting = [Citizen(52), Citizen(53), Citizen(54), Citizen(55)]
    for citizen in waiting:
        assert small.join(citizen)["status"] == "waiting"
    assert [small.entry(c)["position"] for c in waiting] == [1, 2, 3, 4]

    second = small.entry(waiting[1])
    assert small.client.delete(f"/waitlist/{second['id']}", token=waiting[1].token).status == 204
    assert small.entry(waiting[1])["status"] == "withdrawn" and small.entry(waiting[1])["position"] is None
    assert [small.entry(c)["position"] for c in (waiting[0], waiting[2], waiting[3])] == [1, 2, 3]

    # Joining again puts them at the back of the line.
    assert small.join(waiting[1])["status"] == "waiting"
    assert small.entry(waiting[1])["position"] == 4


def test_an_offered_entry_keeps_its_place_until_it_ends(small: Small) -> None:
    holder, first, second = Citizen(56), Citizen(57), Citizen(58)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    small.join(first)
    small.join(second)
    assert small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200
    offered = small.entry(first)
    assert offered["status"] == "offered" and offered["position"] == 1
    assert small.entry(second)["position"] == 2
    small.book(first, hold_id=offered["offer"]["hold_id"])
    assert small.entry(first)["status"] == "booked" and small.entry(first)["position"] is None
    assert small.entry(second)["position"] == 1


def test_each_timebook_has_its_own_line(client, demo, staff_token, aws) -> None:
    one = small_world(client, demo, staff_token, aws["queue_url"])
    other = small_world(client, demo, staff_token, aws["queue_url"])
    for world in (one, other):
        world.book(Citizen(59), slot_id=world.slot_ids[0])
    parent = Citizen(60)
    one.join(Citizen(61))
    one.join(parent)
    other.join(parent)
    positions = {e["timebook_id"]: e["position"] for e in one.entries(parent)}
    assert positions == {one.timebook_id: 2, other.timebook_id: 1}


def test_far_back_in_a_long_line_there_is_no_position(small: Small, monkeypatch: pytest.MonkeyPatch) -> None:
    """The count stops at POSITION_COUNTED entries ahead: one request never reads a whole long line."""
    from chalicelib.booking import waitlist

    monkeypatch.setattr(waitlist, "POSITION_COUNTED", 1)
    small.book(Citizen(62), slot_id=small.slot_ids[0])
    waiting = [Citizen(63), Citizen(64), Citizen(65)]
    for citizen in waiting:
        small.join(citizen)
    assert [small.entry(c)["position"] for c in waiting] == [1, 2, None]
