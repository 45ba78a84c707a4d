"""GET /me/data (issue 23): the citizen's own copy holds everything about them and the people they
represent, and nothing about anyone else."""

from __future__ import annotations

import json

from chalicelib.local.demo import DEMO_STAFF_PID
from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.factories import make_pid
from tests.helpers import book_body, deliver_events, free_days, free_slots


def test_my_data_has_mine_and_my_childs_and_no_one_elses(client, demo, staff_token):
    tb = demo.koronatest_id
    child = make_pid(611)
    parent = Citizen(610, represents=[{"pid": child, "name": "Barn Barnesen"}])
    stranger = Citizen(612)
    day = free_days(client, tb)[1]["date"]
    slots = free_slots(client, tb, day)
    made = []
    for who, slot, extra in ((parent, slots[0], {}), (parent, slots[1], {"for_pid": child}), (stranger, slots[2], {})):
        body = book_body(
            who.phone, KORONATEST_ANSWERS, slot_id=slot["id"], description=f"beskrivelse {who.pid}", **extra
        )
        answer = client.post("/appointments", body, token=who.token)
        assert answer.status == 201, answer
        made.append(answer.json)
    mine, childs, theirs = made
    assert client.post(f"/admin/appointments/{childs['id']}/confirm", {}, token=staff_token).status == 200
    assert client.post("/waitlist", {"timebook_id": tb, "for_pid": child}, token=parent.token).status == 201
    deliver_events()

    answer = client.get("/me/data", token=parent.token)
    assert answer.status == 200, answer
    data = answer.json
    assert data["complete"] is True
    assert {(p["pid"], p["relation"]) for p in data["people"]} == {(parent.pid, "self"), (child, "represented")}
    assert {a["id"] for a in data["appointments"]} == {mine["id"], childs["id"]}
    assert all(a["answers"] and a["phone"] for a in data["appointments"])
    assert {m["appointment_id"] for m in data["inbox"]} >= {mine["id"], childs["id"]}
    assert len(data["waitlist"]) == 1
    assert [(r["action"], r["appointment_id"]) for r in data["audit"]] == [("appointment_confirm", childs["id"])]
    text = json.dumps(data)
    assert stranger.pid not in text and theirs["id"] not in text and f"beskrivelse {stranger.pid}" not in text
    assert DEMO_STAFF_PID not in text  # nor the staff member who confirmed

    others = client.get("/me/data", token=stranger.token).json
    assert [a["id"] for a in others["appointments"]] == [theirs["id"]]
    assert parent.pid not in json.dumps(others) and child not in json.dumps(others)
    assert client.get("/me/data", token=staff_token).status == 403
    assert client.get("/me/data").status == 401


def test_staff_answers_never_carry_a_whole_identity_number(client, demo, staff_token):
    """Issue 23: every staff list (overview, appointments, requests, day list as JSON and CSV,
    waitlist, audit) shows at most a birth date, never a whole fødselsnummer (nor the staff's)."""
    tb = demo.koronatest_id
    child = make_pid(621)
    parent = Citizen(620, represents=[{"pid": child, "name": "Barn Barnesen"}])
    waiter = Citizen(622)
    day = free_days(client, tb)[1]["date"]
    slots = free_slots(client, tb, day)
    for slot, extra in ((slots[0], {}), (slots[1], {"for_pid": child})):
        body = book_body(parent.phone, KORONATEST_ANSWERS, slot_id=slot["id"], **extra)
        answer = client.post("/appointments", body, token=parent.token)
        assert answer.status == 201, answer
        confirmed = client.post(f"/admin/appointments/{answer.json['id']}/confirm", {}, token=staff_token)
        assert confirmed.status == 200
    assert client.post("/waitlist", {"timebook_id": tb}, token=waiter.token).status == 201
    waiting_body = book_body(waiter.phone, KORONATEST_ANSWERS, slot_id=slots[2]["id"])
    assert client.post("/appointments", waiting_body, token=waiter.token).status == 201  # a request
    answers = {
        "overview": client.get(f"/admin/timebooks/{tb}/overview?date={day}", token=staff_token),
        "appointments": client.get(f"/admin/appointments?timebook_id={tb}", token=staff_token),
        "requests": client.get("/admin/requests", token=staff_token),
        "daylist": client.get(f"/admin/timebooks/{tb}/daylist?date={day}", token=staff_token),
        "daylist.csv": client.get(
            f"/admin/timebooks/{tb}/daylist?date={day}", token=staff_token, headers={"accept": "text/csv"}
        ),
        "waitlist": client.get(f"/admin/timebooks/{tb}/waitlist", token=staff_token),
        "audit": client.get(f"/admin/timebooks/{tb}/audit", token=staff_token),
    }
    for name, answer in answers.items():
        assert answer.status == 200, (name, answer)
        for pid in (parent.pid, child, waiter.pid, DEMO_STAFF_PID):
            assert pid not in answer.text, f"{name} shows a whole identity number"
    assert "Barn Barnesen" in answers["daylist"].text  # the lists still say who


def test_retention_days_is_a_timebook_setting(client, demo, staff_token):
    from tests.helpers import timebook_body

    made = client.post("/admin/timebooks", timebook_body(demo.smittevern_id, retention_days=30), token=staff_token)
    assert made.status == 201, made
    assert made.json["retention_days"] == 30
    assert client.get(f"/timebooks/{made.json['id']}").json["retention_days"] == 30
    default = client.post("/admin/timebooks", timebook_body(demo.smittevern_id), token=staff_token)
    assert default.json["retention_days"] == 90
