"""Issue 21: before staff confirm a closure, the page shows how many appointments it cancels and
how many people are told (POST /admin/timebooks/{id}/closures/preview). The preview writes
nothing, and the closure then does what it said."""

from __future__ import annotations

from typing import Any

from tests.conftest import Citizen, token_for
from tests.factories import make_pid
from tests.http.test_staff_day_http import _world


def _body(day: str, **extra: Any) -> dict[str, Any]:
    return {"from": f"{day}T00:00:00+01:00", "to": f"{day}T23:59:00+01:00", "reason": "Stengt", **extra}


def test_preview_counts_appointments_and_distinct_people_then_the_closure_does_that(
    client, demo, staff_token, aws
) -> None:
    world = _world(client, demo, staff_token, aws["queue_url"], confirm=False, slots=2)
    child = make_pid(312)
    parent = Citizen(311, represents=[{"pid": child, "name": "Barn Barnesen"}])
    world.book(parent, slot_id=world.slot_ids[0])
    world.book(parent, slot_id=world.slot_ids[1], for_pid=child)  # the parent booked it: told too
    world.book(Citizen(313), slot_id=world.slot_ids[0])
    world.join(Citizen(314))  # waits for any time of the timebook: the closure tells them
    path = f"/admin/timebooks/{world.timebook_id}/closures"

    free = [world.free(slot_id) for slot_id in world.slot_ids]
    seen = client.post(f"{path}/preview", _body(world.day), token=world.staff)
    assert seen.status == 200, seen
    # 3 appointments: the parent's, the child's (booked by the parent) and 313's; 1 waiting.
    assert seen.json == {"closed_slots": 2, "cancelled": 3, "notified": 1, "people": 4}
    again = client.post(f"{path}/preview", _body(world.day), token=world.staff)
    assert again.json == seen.json, "a preview writes nothing"
    assert [world.free(slot_id) for slot_id in world.slot_ids] == free, "nothing closed"
    assert (
        client.get(f"/admin/timebooks/{world.timebook_id}/audit", token=world.staff).json["items"][0]["action"]
        != "closure"
    )

    closed = client.post(path, _body(world.day), token=world.staff)
    assert closed.status == 200 and closed.json["complete"] is True, closed
    assert {k: closed.json[k] for k in ("closed_slots", "cancelled", "notified")} == {
        k: seen.json[k] for k in ("closed_slots", "cancelled", "notified")
    }
    after = client.post(f"{path}/preview", _body(world.day), token=world.staff)
    assert after.json == {"closed_slots": 0, "cancelled": 0, "notified": 1, "people": 1}


def test_preview_of_one_location_and_of_an_empty_range(client, demo, staff_token, aws) -> None:
    world = _world(client, demo, staff_token, aws["queue_url"], confirm=False, slots=1)
    world.book(Citizen(321), slot_id=world.slot_ids[0])
    path = f"/admin/timebooks/{world.timebook_id}/closures/preview"
    here = client.post(path, _body(world.day, location_id=world.location_id), token=world.staff)
    assert here.json == {"closed_slots": 1, "cancelled": 1, "notified": 0, "people": 1}
    empty = client.post(path, _body("2030-01-07"), token=world.staff)
    assert empty.json == {"closed_slots": 0, "cancelled": 0, "notified": 0, "people": 0}


def test_preview_refuses_bad_input_strangers_and_citizens(client, demo, staff_token, aws) -> None:
    world = _world(client, demo, staff_token, aws["queue_url"], confirm=False, slots=1)
    path = f"/admin/timebooks/{world.timebook_id}/closures/preview"
    backwards = client.post(path, {**_body(world.day), "to": f"{world.day}T00:00:00+02:00"}, token=world.staff)
    assert backwards.status == 400 and backwards.json["error"]["fields"][0]["field"] == "to", backwards
    nowhere = client.post(path, _body(world.day, location_id="nope"), token=world.staff)
    assert nowhere.status == 404 and nowhere.json["error"]["code"] == "location_not_found"
    stranger = token_for(make_pid(322), "staff", "Annen Kommune", orgs=["99999"])
    assert client.post(path, _body(world.day), token=stranger).status == 404
    assert client.post(path, _body(world.day), token=Citizen(323).token).status == 403
    assert client.post("/admin/timebooks/nope/closures/preview", _body(world.day), token=world.staff).status == 404


def test_a_preview_past_the_request_budget_answers_429(client, demo, staff_token, aws, monkeypatch) -> None:
    """A staff member previewing a long range on a busy table gets 429, not a gateway timeout."""
    world = _world(client, demo, staff_token, aws["queue_url"], confirm=False, slots=1)
    world.book(Citizen(331), slot_id=world.slot_ids[0])
    monkeypatch.setenv("REQUEST_BUDGET_SECONDS", "-1")
    answer = client.post(f"/admin/timebooks/{world.timebook_id}/closures/preview", _body(world.day), token=world.staff)
    assert answer.status == 429, answer
