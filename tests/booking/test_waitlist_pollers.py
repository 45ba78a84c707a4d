"""Issue 18: a polling script must not beat the waitlist.

A place that frees while someone waits who could take it goes to the waitlist, however it freed
(cancel, capacity raise, a lapsed hold) and even if the offer step after the freeing write never
ran: a new hold asks the waitlist first (booking/waitlist.comes_first), conditioned on the
waitlist registry's stamp it read (storage/holds.take_hold). Pollers get a place only when
nobody waiting matches, or those who match cannot take an offer now.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from chalicelib import clock
from tests.booking.waitlist_world import Small, join_after_the_hold_asks, small_world
from tests.conftest import Citizen

LATER = "2099-01-01T08:00:00+01:00"  # a window that matches nothing yet


@pytest.fixture
def small(client, demo, staff_token, aws) -> Small:
    return small_world(client, demo, staff_token, aws["queue_url"])


@pytest.fixture
def no_offer_after_commit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The best-effort offer after a freeing write never runs (a crash, a throttle): the place
    lies free with people waiting, the window a polling script used to win."""
    from chalicelib.booking import lifecycle, slot_admin

    monkeypatch.setattr(lifecycle, "after_commit", lambda **_: None)
    monkeypatch.setattr(slot_admin, "after_commit", lambda **_: None)
    yield


def _hold(small: Small, citizen: Citizen, **body: str):  # type: ignore[no-untyped-def]
    return small.client.post("/holds", body or {"slot_id": small.slot_ids[0]}, token=citizen.token)


def test_a_place_freed_by_a_cancel_goes_to_the_waiting_not_to_a_poller(small: Small, no_offer_after_commit) -> None:
    holder, waiting, poller = Citizen(4101), Citizen(4102), Citizen(4103)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    assert small.join(waiting)["status"] == "waiting"
    assert small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200
    assert small.entry(waiting)["status"] == "waiting"  # nothing offered it yet

    by_slot = _hold(small, poller)
    assert by_slot.status == 409 and by_slot.json["error"]["code"] == "slot_unavailable", by_slot
    assert small.entry(waiting)["status"] == "offered"  # the refused hold handed it to the waitlist
    first_free = _hold(small, poller, timebook_id=small.timebook_id)
    assert first_free.status == 409, first_free


def test_a_lapsed_hold_goes_to_the_waiting_not_to_a_poller(small: Small) -> None:
    holder, waiting, poller = Citizen(4111), Citizen(4112), Citizen(4113)
    assert _hold(small, holder).status == 201
    assert small.join(waiting)["status"] == "waiting"
    hold_minutes = small.client.get(f"/timebooks/{small.timebook_id}").json["hold_minutes"]
    clock.advance(timedelta(minutes=hold_minutes, seconds=1))  # free by the capacity rule, no write yet

    first_free = _hold(small, poller, timebook_id=small.timebook_id)
    assert first_free.status == 409, first_free
    assert small.entry(waiting)["status"] == "offered"
    assert _hold(small, poller).status == 409


def test_a_raised_capacity_goes_to_the_waiting_not_to_a_poller(small: Small, no_offer_after_commit) -> None:
    holder, waiting, poller = Citizen(4121), Citizen(4122), Citizen(4123)
    small.book(holder, slot_id=small.slot_ids[0])
    small.join(waiting)
    raised = small.client.request(
        "PATCH", f"/admin/slots/{small.slot_ids[0]}", json_body={"capacity": 2}, token=small.staff
    )
    assert raised.status == 200, raised
    assert _hold(small, poller).status == 409
    assert small.entry(waiting)["status"] == "offered"


def test_pollers_get_places_nobody_waiting_can_take(client, demo, staff_token, aws, no_offer_after_commit) -> None:
    """Waiting for other times, at their limit, or filling in a hold elsewhere: the place is the poller's."""
    world = small_world(client, demo, staff_token, aws["queue_url"], slots=3, capacity=1, max_active=1)
    first, second, third = world.slot_ids
    other_times, at_limit, filling_in = Citizen(4131), Citizen(4132), Citizen(4133)
    holder, poller = Citizen(4134), Citizen(4135)
    booked = world.book(holder, slot_id=first)
    world.book(at_limit, slot_id=second)  # their one appointment: no offer can be theirs now
    held = world.client.post("/holds", {"slot_id": third}, token=filling_in.token)  # a live hold of theirs
    assert held.status == 201, held
    world.join(other_times, **{"from": LATER})
    world.join(at_limit)
    world.join(filling_in)
    assert world.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200

    taken = world.client.post("/holds", {"slot_id": first}, token=poller.token)
    assert taken.status == 201, taken
    assert [world.entry(c)["status"] for c in (other_times, at_limit, filling_in)] == ["waiting"] * 3


def test_someone_who_starts_waiting_between_the_read_and_the_write_is_not_passed_over(
    small: Small, no_offer_after_commit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hold read the waitlist empty of matches; a person joins before it writes: the write's
    condition on the registry's stamp fails, the hold looks again and leaves the place to them."""
    holder, waiting, late, poller = Citizen(4141), Citizen(4142), Citizen(4143), Citizen(4144)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    small.join(waiting, **{"from": LATER})  # the registry exists; nobody matches yet
    assert small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200
    calls = join_after_the_hold_asks(monkeypatch, lambda: small.join(late))
    refused = _hold(small, poller)
    assert refused.status == 409, refused
    assert calls == [False, True]
    assert small.entry(late)["status"] == "offered"


def test_holding_ones_own_place_again_is_not_refused_while_people_wait(client, demo, staff_token, aws) -> None:
    """The back button re-posts the hold: their own place frees nothing, so the waitlist is not asked."""
    world = small_world(client, demo, staff_token, aws["queue_url"], capacity=2)
    holder, filling_in, waiting = Citizen(4151), Citizen(4152), Citizen(4153)
    world.book(holder, slot_id=world.slot_ids[0])
    held = world.client.post("/holds", {"slot_id": world.slot_ids[0]}, token=filling_in.token)
    assert held.status == 201, held
    assert world.join(waiting)["status"] == "waiting"
    again = world.client.post("/holds", {"slot_id": world.slot_ids[0]}, token=filling_in.token)
    assert again.status == 201 and again.json["expires_at"] == held.json["expires_at"], again
