"""`for: {name, pid}` in the citizen's answers (issue 22): the portal tells the caller and the
people they represent apart by id, not by name; staff answers keep `for: {name}`."""

from __future__ import annotations

from typing import Any

from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.helpers import book_body, free_slots


def _book(client: Any, demo: Any, who: Citizen, slot: dict[str, Any], **extra: str) -> dict[str, Any]:
    body = book_body(who.phone, KORONATEST_ANSWERS, slot_id=slot["id"], **extra)
    made = client.post("/appointments", body, token=who.token)
    assert made.status == 201, made
    return made.json


def test_the_citizens_answers_name_the_person_by_id(client, demo, staff_token) -> None:
    # Two children with the same name: only the id tells them apart.
    twins = [Citizen(71), Citizen(72)]
    parent = Citizen(70, represents=[{"pid": c.pid, "name": "Barn Barnesen"} for c in twins])
    slots = free_slots(client, demo.koronatest_id)
    own = _book(client, demo, parent, slots[0])
    first_twin = _book(client, demo, parent, slots[1], for_pid=twins[0].pid)
    assert own["for"] == {"name": parent.name, "pid": parent.pid}
    assert first_twin["for"] == {"name": "Barn Barnesen", "pid": twins[0].pid}

    listed = client.get("/appointments", token=parent.token).json["items"]
    assert {(a["id"], a["for"]["pid"]) for a in listed} == {(own["id"], parent.pid), (first_twin["id"], twins[0].pid)}
    one = client.get(f"/appointments/{first_twin['id']}", token=parent.token).json
    assert one["for"] == {"name": "Barn Barnesen", "pid": twins[0].pid}
    # The child's own sign-in sees their appointment with their id too.
    child_view = client.get(f"/appointments/{first_twin['id']}", token=twins[0].token).json
    assert child_view["for"]["pid"] == twins[0].pid

    day = own["start"][:10]
    target = next(s for s in free_slots(client, demo.koronatest_id, day) if s["id"] not in (own["slot_id"],))
    moved = client.post(f"/appointments/{own['id']}/reschedule", {"slot_id": target["id"]}, token=parent.token)
    assert moved.status == 200 and moved.json["for"]["pid"] == parent.pid, moved
    cancelled = client.post(f"/appointments/{first_twin['id']}/cancel", {}, token=parent.token)
    assert cancelled.status == 200 and cancelled.json["for"]["pid"] == twins[0].pid, cancelled

    # Staff answers are unchanged: the name only.
    staff_list = client.get(f"/admin/appointments?timebook_id={demo.koronatest_id}", token=staff_token).json["items"]
    ours = [a for a in staff_list if a["id"] in (own["id"], first_twin["id"])]
    assert ours and all(set(a["for"]) == {"name"} for a in ours)
    confirmed = client.post(f"/admin/appointments/{own['id']}/confirm", {}, token=staff_token)
    assert confirmed.status == 200 and confirmed.json["for"] == {"name": parent.name}


def test_the_openapi_document_says_so(client) -> None:
    components = client.get("/openapi.json").json["components"]["schemas"]
    citizen_for = components["CitizenAppointmentOut"]["properties"]["for"]
    assert citizen_for == {"$ref": "#/components/schemas/PersonIdRef"}
    assert set(components["PersonIdRef"]["required"]) == {"name", "pid"}
    assert components["AppointmentOut"]["properties"]["for"] == {"$ref": "#/components/schemas/PersonRef"}
    listed = client.get("/openapi.json").json["paths"]["/appointments"]["get"]["responses"]["200"]
    schema = listed["content"]["application/json"]["schema"]
    assert schema["properties"]["items"]["items"] == {"$ref": "#/components/schemas/CitizenAppointmentOut"}


def test_the_hold_answer_names_whom_it_is_for(client, demo) -> None:
    child = Citizen(74)
    parent = Citizen(73, represents=[{"pid": child.pid, "name": "Barn Barnesen"}])
    slot = free_slots(client, demo.koronatest_id)[0]
    held = client.post("/holds", {"slot_id": slot["id"], "for_pid": child.pid}, token=parent.token)
    assert held.status == 201 and held.json["for"] == {"name": "Barn Barnesen", "pid": child.pid}, held
    own = client.post("/holds", {"slot_id": slot["id"]}, token=parent.token, headers={"Idempotency-Key": "h-73"})
    assert own.status == 201 and own.json["for"] == {"name": parent.name, "pid": parent.pid}, own
    again = client.post("/holds", {"slot_id": slot["id"]}, token=parent.token, headers={"Idempotency-Key": "h-73"})
    assert again.status == 200 and again.json["id"] == own.json["id"] and again.json["for"] == own.json["for"]
