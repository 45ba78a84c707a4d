"""Issue 18: a closure refuses holds and bookings across its whole range from the moment its POST
returns, even on days its background run has not closed slot by slot yet (booking/closed_ranges.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib import clock
from chalicelib.booking import closures
from tests.booking.waitlist_world import ANSWERS
from tests.conftest import Citizen
from tests.helpers import book_body, timebook_body

DAYS = 120


@pytest.fixture
def long_book(client, demo, staff_token) -> tuple[str, str, date]:
    """A timebook with one 08:00 slot of one place on each of DAYS + 1 days from tomorrow."""
    made = client.post(
        "/admin/timebooks", timebook_body(demo.smittevern_id, requires_confirmation=False), token=staff_token
    )
    assert made.status == 201, made
    tb = made.json["id"]
    location = client.post(f"/admin/timebooks/{tb}/locations", {"name": "Lab", "address": "Gata 2"}, token=staff_token)
    first = (clock.local(clock.now()) + timedelta(days=1)).date()
    schedule = {
        "location_id": location.json["id"],
        "from": first.isoformat(),
        "to": (first + timedelta(days=DAYS)).isoformat(),
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": "08:15",
        "slot_minutes": 15,
        "capacity": 1,
    }
    created = client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff_token)
    assert created.status == 201 and created.json["created"] == DAYS + 1, created
    return tb, location.json["id"], first


def _slot_on(client, tb: str, day: date) -> str:
    listed = client.get(f"/timebooks/{tb}/slots?date={day.isoformat()}")
    assert listed.status == 200 and len(listed.json["items"]) == 1, listed
    return listed.json["items"][0]["id"]


def test_a_hold_on_day_100_is_refused_before_the_background_run_gets_there(
    client, staff_token, long_book, monkeypatch
) -> None:
    tb, _, first = long_book
    day_100, after = first + timedelta(days=99), first + timedelta(days=DAYS)
    inside, outside = _slot_on(client, tb, day_100), _slot_on(client, tb, after)
    offset = clock.local(clock.now()).strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    body = {"from": f"{first}T00:00:00{offset}", "to": f"{after}T00:00:00{offset}", "reason": "Ombygging"}
    monkeypatch.setattr(closures, "BUDGET_SECONDS", -1.0)  # each run stops after its first change
    posted = client.post(f"/admin/timebooks/{tb}/closures", body, token=staff_token)
    assert posted.status == 200 and posted.json["complete"] is False, posted
    assert posted.json["closed_slots"] < 5  # day 100 is still open in storage

    citizen = Citizen(4201)
    held = client.post("/holds", {"slot_id": inside}, token=citizen.token)
    assert held.status == 409 and held.json["error"]["code"] == "slot_unavailable", held
    first_free = client.post("/holds", {"timebook_id": tb, "date": day_100.isoformat()}, token=citizen.token)
    assert first_free.status == 201 and first_free.json["slot_id"] == outside, first_free  # past the range
    booked = client.post("/appointments", book_body(citizen.phone, ANSWERS, slot_id=inside), token=citizen.token)
    assert booked.status == 409, booked
    waiting = client.post("/waitlist", {"timebook_id": tb}, token=Citizen(4202).token)
    assert waiting.status == 201 and waiting.json["status"] in ("waiting", "offered"), waiting
    assert waiting.json["offer"] is None or waiting.json["offer"]["slot_id"] == outside
    assert client.post("/holds", {"slot_id": inside}, token=Citizen(4203).token).status == 409


def test_a_hold_taken_before_the_closure_is_not_booked_inside_it(client, staff_token, long_book, monkeypatch) -> None:
    tb, _, first = long_book
    day_100 = first + timedelta(days=99)
    inside = _slot_on(client, tb, day_100)
    citizen = Citizen(4211)
    held = client.post("/holds", {"slot_id": inside}, token=citizen.token)
    assert held.status == 201, held
    offset = clock.local(clock.now()).strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    body = {"from": f"{first}T00:00:00{offset}", "to": f"{day_100}T12:00:00{offset}", "reason": "Ombygging"}
    monkeypatch.setattr(closures, "BUDGET_SECONDS", -1.0)
    assert client.post(f"/admin/timebooks/{tb}/closures", body, token=staff_token).json["complete"] is False
    booked = client.post(
        "/appointments", book_body(citizen.phone, ANSWERS, hold_id=held.json["id"]), token=citizen.token
    )
    assert booked.status == 409 and booked.json["error"]["code"] == "slot_unavailable", booked
