"""Issue 21 over HTTP: «Møtt» / «Ikke møtt» (`arrived`, `noshow`), bulk confirm, the requests across
timebooks, the station's day list (JSON and CSV) and a closure's progress."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock
from tests.booking.waitlist_world import Small
from tests.conftest import Citizen, demo_staff_token, token_for
from tests.factories import make_pid
from tests.helpers import stream_messages, timebook_body


def _world(client: Any, demo: Any, staff: str, queue_url: str, *, confirm: bool, slots: int = 4) -> Small:
    """One timebook, one location, `slots` slots of two places five days ahead."""
    body = timebook_body(demo.smittevern_id, requires_confirmation=confirm, max_active_per_person=None)
    body["form"]["questions"][0]["id"] = "q1"
    tb = client.post("/admin/timebooks", body, token=staff).json["id"]
    location = client.post(f"/admin/timebooks/{tb}/locations", {"name": "Lab A", "address": "Gata 1"}, token=staff)
    day = (clock.local(clock.now()) + timedelta(days=5)).date().isoformat()
    schedule = {
        "location_id": location.json["id"],
        "from": day,
        "to": day,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": f"{8 + (15 * slots) // 60:02d}:{(15 * slots) % 60:02d}",
        "slot_minutes": 15,
        "capacity": 2,
    }
    assert client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff).status == 201
    listed = client.get(f"/timebooks/{tb}/slots?date={day}").json["items"]
    return Small(client, staff, tb, location.json["id"], day, [s["id"] for s in listed], queue_url)


@pytest.fixture
def booked(client, demo, staff_token, aws) -> Small:
    return _world(client, demo, staff_token, aws["queue_url"], confirm=False)


@pytest.fixture
def requested(client, demo, staff_token, aws) -> Small:
    return _world(client, demo, staff_token, aws["queue_url"], confirm=True)


def _on_the_day(world: Small) -> str:
    """Move the clock to the appointments' day (07:00 there); a fresh staff token for the new time."""
    target = clock.local(clock.now()).replace(hour=7, minute=0) + timedelta(days=5)
    clock.advance(target - clock.local(clock.now()))
    world.staff = demo_staff_token()
    return world.staff


def _post(world: Small, path: str, body: dict | None = None, token: str | None = None):
    return world.client.post(path, body or {}, token=token or world.staff)


# ---- arrived / noshow ---------------------------------------------------------------------------------


def test_arrived_and_noshow_only_from_booked_and_only_on_the_day(booked: Small) -> None:
    came = booked.book(Citizen(201), slot_id=booked.slot_ids[0])
    missed = booked.book(Citizen(202), slot_id=booked.slot_ids[1])
    cancelled = booked.book(Citizen(203), slot_id=booked.slot_ids[2])
    assert _post(booked, f"/admin/appointments/{cancelled['id']}/cancel", {"reason": "Stengt"}).status == 200

    early = _post(booked, f"/admin/appointments/{came['id']}/arrived")
    assert early.status == 409 and early.json["error"]["code"] == "wrong_state", early

    _on_the_day(booked)
    stream_messages()  # what went before
    arrived = _post(booked, f"/admin/appointments/{came['id']}/arrived")
    assert arrived.status == 200 and arrived.json["status"] == "arrived", arrived
    noshow = _post(booked, f"/admin/appointments/{missed['id']}/noshow")
    assert noshow.status == 200 and noshow.json["status"] == "noshow", noshow
    # Each is a change Helsenorge hears about (the stream carries its event), no inbox message.
    kinds = sorted(m["kind"] for m in stream_messages())
    assert kinds == ["arrived", "noshow"]

    for path in (f"{came['id']}/arrived", f"{came['id']}/noshow", f"{cancelled['id']}/arrived"):
        again = _post(booked, f"/admin/appointments/{path}")
        assert again.status == 409 and again.json["error"]["code"] == "wrong_state", (path, again)

    clock.advance(timedelta(days=1))
    late_token = demo_staff_token()
    late = _post(booked, f"/admin/appointments/{missed['id']}/arrived", token=late_token)
    assert late.status == 409 and late.json["error"]["code"] == "wrong_state"


def test_arrived_is_pushed_as_fhir_arrived_and_tells_the_inbox_nothing(booked: Small) -> None:
    citizen = Citizen(211)
    made = booked.book(citizen, slot_id=booked.slot_ids[0])
    _on_the_day(booked)
    citizen = Citizen(211)  # a token for the new time
    assert _post(booked, f"/admin/appointments/{made['id']}/arrived").status == 200
    kinds = booked.inbox_kinds(citizen)
    assert "arrived" not in kinds and len(kinds) == 1, kinds
    fhir = booked.client.get(f"/appointments/{made['id']}/fhir", token=citizen.token)
    assert fhir.status == 200 and fhir.json["status"] == "arrived"

    from chalicelib.messaging.publisher import HelsenorgePublisher

    sent: list[dict] = []
    publisher = HelsenorgePublisher.__new__(HelsenorgePublisher)
    publisher.send = sent.append  # type: ignore[method-assign]
    for kind in ("arrived", "noshow"):
        HelsenorgePublisher.publish(publisher, {"kind": kind, "payload": {}})
    assert [m["kind"] for m in sent] == ["arrived", "noshow"]


def test_attendance_is_for_the_owning_staff_only(booked: Small) -> None:
    made = booked.book(Citizen(221), slot_id=booked.slot_ids[0])
    _on_the_day(booked)
    stranger = token_for(make_pid(222), "staff", "Annen Kommune", orgs=["99999"])
    refused = _post(booked, f"/admin/appointments/{made['id']}/arrived", token=stranger)
    assert refused.status == 404
    citizen = _post(booked, f"/admin/appointments/{made['id']}/noshow", token=Citizen(221).token)
    assert citizen.status == 403


# ---- bulk confirm ------------------------------------------------------------------------------------


def test_bulk_confirm_one_result_per_id_and_one_inbox_message_each(requested: Small) -> None:
    people = [Citizen(n) for n in (231, 232, 233)]
    made = [requested.book(p, slot_id=requested.slot_ids[i]) for i, p in enumerate(people)]
    assert all(m["status"] == "requested" for m in made)
    rejected = _post(requested, f"/admin/appointments/{made[2]['id']}/reject", {"reason": "Feil time"})
    assert rejected.status == 200
    ids = [made[0]["id"], made[1]["id"], made[2]["id"], "nope", made[0]["id"]]
    answer = _post(requested, "/admin/appointments/confirm", {"ids": ids})
    assert answer.status == 200, answer
    results = {r["id"]: r for r in answer.json["results"]}
    assert [r["id"] for r in answer.json["results"]] == [made[0]["id"], made[1]["id"], made[2]["id"], "nope"]
    assert results[made[0]["id"]]["status"] == "booked" and results[made[1]["id"]]["status"] == "booked"
    assert results[made[2]["id"]]["error"]["code"] == "wrong_state"
    assert results["nope"]["error"]["code"] == "appointment_not_found"

    again = _post(requested, "/admin/appointments/confirm", {"ids": [made[0]["id"], made[1]["id"]]})
    assert again.status == 200
    assert {r["error"]["code"] for r in again.json["results"]} == {"wrong_state"}
    for person in people[:2]:
        assert sorted(requested.inbox_kinds(person)) == ["confirmed", "requested"]


def test_bulk_confirm_refuses_bad_bodies_and_other_staff(requested: Small) -> None:
    for body in ({}, {"ids": []}, {"ids": ["x"] * 51}, {"ids": "abc"}):
        bad = _post(requested, "/admin/appointments/confirm", body)
        assert bad.status == 400, (body, bad)
    made = requested.book(Citizen(241), slot_id=requested.slot_ids[0])
    stranger = token_for(make_pid(242), "staff", "Annen Kommune", orgs=["99999"])
    other = _post(requested, "/admin/appointments/confirm", {"ids": [made["id"]]}, token=stranger)
    assert other.status == 200 and other.json["results"][0]["error"]["code"] == "appointment_not_found"
    assert requested.client.get(f"/appointments/{made['id']}", token=Citizen(241).token).json["status"] == "requested"


# ---- requests across timebooks -------------------------------------------------------------------------


def test_requests_across_timebooks_oldest_first(requested: Small, client, demo, staff_token, aws) -> None:
    second = _world(client, demo, staff_token, aws["queue_url"], confirm=True, slots=1)
    first = requested.book(Citizen(251), slot_id=requested.slot_ids[0])
    clock.advance(timedelta(seconds=5))
    later = second.book(Citizen(252), slot_id=second.slot_ids[0])
    found = client.get("/admin/requests", token=demo_staff_token())
    assert found.status == 200, found
    ids = [a["id"] for a in found.json["items"]]
    assert ids.index(first["id"]) < ids.index(later["id"])
    assert {a["timebook"]["id"] for a in found.json["items"]} >= {requested.timebook_id, second.timebook_id}
    assert all(a["status"] == "requested" for a in found.json["items"])
    stranger = token_for(make_pid(253), "staff", "Annen Kommune", orgs=["99999"])
    assert client.get("/admin/requests", token=stranger).json["items"] == []
    assert client.get("/admin/requests", token=Citizen(251).token).status == 403


# ---- day list -------------------------------------------------------------------------------------------


def test_day_list_as_json_and_as_csv_with_bom(booked: Small) -> None:
    people = [Citizen(261), Citizen(262)]
    people[0].name = "Åse Ødegård"
    people[0].token = token_for(people[0].pid, "citizen", people[0].name)
    for i, person in enumerate(people):
        booked.book(person, slot_id=booked.slot_ids[i])
    path = f"/admin/timebooks/{booked.timebook_id}/daylist?date={booked.day}&location={booked.location_id}"
    listed = booked.client.get(path, token=booked.staff)
    assert listed.status == 200, listed
    items = listed.json["items"]
    assert [i["name"] for i in items] == ["Åse Ødegård", "Innbygger 262"]
    assert [i["start"][11:16] for i in items] == ["08:00", "08:15"]
    assert all(i["status"] == "booked" for i in items)
    pid = people[0].pid
    assert items[0]["birth_date"][8:10] == pid[0:2] and items[0]["birth_date"][5:7] == pid[2:4]
    assert pid not in str(listed.json)

    as_csv = booked.client.request("GET", path, token=booked.staff, headers={"Accept": "text/csv"})
    assert as_csv.status == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(as_csv.text[1:]), delimiter=";"))
    assert rows[0] == ["Tid", "Navn", "Fødselsdato", "Status"]
    assert rows[1][:2] == ["08:00", "Åse Ødegård"] and rows[1][3] == "Tildelt"

    other_day = booked.client.get(f"/admin/timebooks/{booked.timebook_id}/daylist?date=2020-01-01", token=booked.staff)
    assert other_day.status == 200 and other_day.json["items"] == []
    assert booked.client.get(f"/admin/timebooks/{booked.timebook_id}/daylist", token=booked.staff).status == 400
    stranger = token_for(make_pid(263), "staff", "Annen Kommune", orgs=["99999"])
    assert booked.client.get(path, token=stranger).status == 404


# ---- closures: id and progress ------------------------------------------------------------------------------


def test_a_closure_answers_its_id_and_get_answers_its_result(booked: Small) -> None:
    booked.book(Citizen(271), slot_id=booked.slot_ids[0])
    body = {"from": f"{booked.day}T00:00:00+01:00", "to": f"{booked.day}T23:59:00+01:00", "reason": "Stengt"}
    closed = _post(booked, f"/admin/timebooks/{booked.timebook_id}/closures", body)
    assert closed.status == 200, closed
    assert closed.json["complete"] is True and closed.json["cancelled"] == 1 and closed.json["id"]
    got = booked.client.get(f"/admin/closures/{closed.json['id']}", token=booked.staff)
    assert got.status == 200, got
    assert {k: got.json[k] for k in ("id", "closed_slots", "cancelled", "complete")} == {
        "id": closed.json["id"],
        "closed_slots": 4,
        "cancelled": 1,
        "complete": True,
    }
    assert booked.client.get("/admin/closures/nope_123", token=booked.staff).status == 404
    stranger = token_for(make_pid(272), "staff", "Annen Kommune", orgs=["99999"])
    assert booked.client.get(f"/admin/closures/{closed.json['id']}", token=stranger).status == 404


def test_an_unfinished_closure_shows_progress_until_complete(booked: Small, monkeypatch) -> None:
    from chalicelib.booking import closures

    for n, slot in ((281, 0), (282, 1), (283, 2)):
        booked.book(Citizen(n), slot_id=booked.slot_ids[slot])
    monkeypatch.setattr(closures, "BUDGET_SECONDS", -1.0)  # the request stops after its first step
    body = {"from": f"{booked.day}T00:00:00+01:00", "to": f"{booked.day}T23:59:00+01:00", "reason": "Stengt"}
    closed = _post(booked, f"/admin/timebooks/{booked.timebook_id}/closures", body)
    assert closed.status == 200 and closed.json["complete"] is False, closed
    running = booked.client.get(f"/admin/closures/{closed.json['id']}", token=booked.staff)
    assert running.status == 200 and running.json["complete"] is False
    assert running.json["remaining"] == 3 - running.json["cancelled"] and running.json["remaining"] >= 1
    monkeypatch.setattr(closures, "BUDGET_SECONDS", 5.0)
    assert closures.finish_unfinished() == 1
    done = booked.client.get(f"/admin/closures/{closed.json['id']}", token=booked.staff)
    assert done.json["complete"] is True and done.json["closed_slots"] == 4 and done.json["cancelled"] == 3


# ---- the waitlist, as staff see it -----------------------------------------------------------------------


def test_staff_see_who_waits_in_order_and_the_open_offer_without_whole_ids(client, demo, staff_token, aws) -> None:
    world = _world(client, demo, staff_token, aws["queue_url"], confirm=False, slots=1)
    first, second, third = Citizen(291), Citizen(292), Citizen(293)
    world.book(first, slot_id=world.slot_ids[0])
    world.book(Citizen(294), slot_id=world.slot_ids[0])  # full now
    world.join(second)
    world.join(third)
    listed = client.get(f"/admin/timebooks/{world.timebook_id}/waitlist", token=world.staff)
    assert listed.status == 200, listed
    items = listed.json["items"]
    assert [i["position"] for i in items] == [1, 2] and [i["status"] for i in items] == ["waiting", "waiting"]
    assert items[0]["person"].startswith(second.pid[:6]) and second.pid not in str(listed.json)
    mine = client.get("/appointments", token=first.token).json["items"][0]
    assert client.post(f"/appointments/{mine['id']}/cancel", {}, token=first.token).status == 200
    offered = client.get(f"/admin/timebooks/{world.timebook_id}/waitlist", token=world.staff).json["items"]
    assert offered[0]["status"] == "offered" and offered[0]["offer"]["expires_at"]
    assert offered[1]["status"] == "waiting" and offered[1]["offer"] is None
