"""A closed slot is closed everywhere: the SMART feed, the month calendar, the day view and "first
available" agree, whether staff closed it alone (PATCH) or a closure range covered it.

The feed and one discovery path once counted free places without the closed flag (an optional
argument of the capacity function they left out) and published a closed slot as free; the rule
now lives on `Slot.free_places`, which every reader calls.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.booking import feed
from chalicelib.fhir import codes
from tests.booking.waitlist_world import ANSWERS, Small, small_world
from tests.conftest import Citizen


@pytest.fixture
def small(client, demo, staff_token, aws) -> Small:
    return small_world(client, demo, staff_token, aws["queue_url"], slots=4, capacity=2)


def _close_by_patch(small: Small) -> None:
    closed = small.client.request(
        "PATCH", f"/admin/slots/{small.slot_ids[0]}", json_body={"closed": True}, token=small.staff
    )
    assert closed.status == 200 and closed.json["free"] == 0, closed


def _close_by_range(small: Small) -> None:
    start = small.client.get(f"/timebooks/{small.timebook_id}/slots?date={small.day}").json["items"][0]["start"]
    body = {"from": start, "to": f"{small.day}T08:15:00{start[-6:]}", "reason": "Strømbrudd"}
    done = small.client.post(f"/admin/timebooks/{small.timebook_id}/closures", body, token=small.staff)
    assert done.status == 200 and done.json["closed_slots"] == 1, done


def _lower_to_taken(small: Small) -> None:
    """Issue 19: a slot whose capacity is lowered to the places taken has none free either. A
    booking takes a random free place: lowering to 1 needs place 0 taken, so a booking that took
    place 1 is cancelled and another made (bounded; each try is a coin toss)."""
    from tests.helpers import book_body

    for n in range(30):
        citizen = Citizen(168 + n)
        booked = small.client.post(
            "/appointments", book_body(citizen.phone, ANSWERS, slot_id=small.slot_ids[0]), token=citizen.token
        )
        assert booked.status == 201, booked
        lowered = small.client.request(
            "PATCH", f"/admin/slots/{small.slot_ids[0]}", json_body={"capacity": 1}, token=small.staff
        )
        if lowered.status != 409:
            break
        cancelled = small.client.post(f"/appointments/{booked.json['id']}/cancel", {}, token=citizen.token)
        assert cancelled.status == 200, cancelled
    assert lowered.status == 200 and lowered.json["free"] == 0, lowered


def _feed_status(slot_id: str) -> str:
    lines = feed.build().files[feed.FILES["Slot"]].decode().splitlines()
    import json

    found = [s for s in map(json.loads, lines) if s["id"] == codes.fhir_id(slot_id)]
    assert len(found) == 1, found
    return found[0]["status"]


@pytest.mark.parametrize(
    "close", [_close_by_patch, _close_by_range, _lower_to_taken], ids=["patch", "closure", "capacity-to-taken"]
)
def test_every_reader_agrees_a_closed_slot_is_not_free(small: Small, close: Callable[[Small], None]) -> None:
    closed, others = small.slot_ids[0], small.slot_ids[1:]
    assert _feed_status(closed) == "free"
    close(small)

    assert _feed_status(closed) == "busy"
    assert all(_feed_status(slot_id) == "free" for slot_id in others)
    day_view = small.client.get(f"/timebooks/{small.timebook_id}/slots?date={small.day}").json["items"]
    assert [s["id"] for s in day_view] == others
    days = small.client.get(f"/timebooks/{small.timebook_id}/calendar?month={small.day[:7]}").json["days"]
    assert next(d["free"] for d in days if d["date"] == small.day) == 2 * len(others)

    held = []
    for n in range(2 * len(others)):
        made = small.client.post("/holds", {"timebook_id": small.timebook_id}, token=Citizen(170 + n).token)
        assert made.status == 201, made
        held.append(made.json["slot_id"])
    assert closed not in held and sorted(held) == sorted(others * 2)
    none_left = small.client.post("/holds", {"timebook_id": small.timebook_id}, token=Citizen(169).token)
    assert none_left.status == 409, none_left


@pytest.mark.moto  # the table's stream publishes
def test_a_stale_summary_does_not_show_a_slot_just_closed(small: Small, monkeypatch) -> None:
    """The day view reads the published document (issue 20); closing a slot is a change of the
    slot item, which the table's stream publishes."""
    from tests.helpers import publish_availability

    monkeypatch.setenv("AVAILABILITY_STALENESS_SECONDS", "3600")
    _close_by_patch(small)
    publish_availability()
    day_view = small.client.get(f"/timebooks/{small.timebook_id}/slots?date={small.day}").json["items"]
    assert small.slot_ids[0] not in [s["id"] for s in day_view]


def test_a_closure_leaves_alone_an_appointment_moved_out_after_it_read_the_slot(
    client, demo, staff_token, aws, monkeypatch
):
    """Issue 18: the closure read the slot's claims, then cancelled each appointment by id; one
    moved out meanwhile was cancelled in its new slot. The move here lands exactly in between."""
    from chalicelib.booking import waitlist
    from tests.booking.waitlist_world import small_world
    from tests.conftest import Citizen

    world = small_world(client, demo, staff_token, aws["queue_url"], slots=2)
    closed, other = world.slot_ids
    mover = Citizen(131)
    booked = world.book(mover, slot_id=closed)
    real = waitlist.take_back_offers

    def move_first(slot):  # called after the closure read the slot, before it cancels
        moved = client.post(f"/appointments/{booked['id']}/reschedule", {"slot_id": other}, token=mover.token)
        assert moved.status == 200, moved
        return real(slot)

    monkeypatch.setattr(waitlist, "take_back_offers", move_first)
    body = {"from": booked["start"], "to": booked["end"], "reason": "Stengt"}
    done = client.post(f"/admin/timebooks/{world.timebook_id}/closures", body, token=staff_token)
    assert done.status == 200, done
    after = client.get(f"/appointments/{booked['id']}", token=mover.token).json
    assert after["status"] == "booked" and after["slot_id"] == other, after
