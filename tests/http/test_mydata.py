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
