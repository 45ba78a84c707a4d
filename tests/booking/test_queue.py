"""The waiting room and the waves through the API (issue 20): one ticket per person and timebook,
admission in arrival order, holds only with the caller's own admitted ticket, polls that read no
table, and holds refused before the wave of the person they are for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.booking import queue
from chalicelib.domain.identity import birth_date
from tests.conftest import Citizen
from tests.helpers import timebook_body


def make_timebook(
    client: Any, demo: Any, staff_token: str, days_ahead: int = 2, **settings: Any
) -> tuple[str, list[str]]:
    made = client.post("/admin/timebooks", timebook_body(demo.smittevern_id, **settings), token=staff_token)
    assert made.status == 201, made
    tb = made.json["id"]
    place = client.post(f"/admin/timebooks/{tb}/locations", {"name": "Hall", "address": "Gata 1"}, token=staff_token)
    day = (clock.local(clock.now()) + timedelta(days=days_ahead)).date().isoformat()
    schedule = {
        "location_id": place.json["id"],
        "from": day,
        "to": day,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": "10:00",
        "slot_minutes": 15,
        "capacity": 4,
    }
    assert client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff_token).status == 201
    slots = client.get(f"/timebooks/{tb}/slots?date={day}").json["items"]
    return tb, [s["id"] for s in slots]


@pytest.fixture
def room(client, demo, staff_token) -> tuple[str, list[str]]:
    return make_timebook(client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 2})


def join(client: Any, tb: str, citizen: Citizen) -> Any:
    return client.post(f"/timebooks/{tb}/queue", token=citizen.token)


def hold(client: Any, slot: str, citizen: Citizen, ticket: str | None = None, **body: Any) -> Any:
    headers = {"x-queue-ticket": ticket} if ticket else None
    return client.post("/holds", {"slot_id": slot, **body}, token=citizen.token, headers=headers)


def test_one_ticket_per_person_and_timebook(client, room):
    tb, _ = room
    first = join(client, tb, Citizen(31))
    assert first.status == 201, first
    body = first.json
    fields = {"ticket", "arrival", "position", "state", "estimated_wait_seconds", "poll_after_seconds", "sold_out"}
    assert set(body) == fields and body["sold_out"] is False
    assert body["state"] == "waiting" and body["position"] >= 1
    assert Citizen(31).pid not in body["ticket"]
    again = join(client, tb, Citizen(31))
    assert again.status == 200 and again.json["ticket"] == body["ticket"] and again.json["arrival"] == body["arrival"]
    assert join(client, tb, Citizen(32)).json["ticket"] != body["ticket"]


def test_admitted_in_arrival_order_at_the_rate(client, room):
    tb, slots = room
    people = [Citizen(40 + n) for n in range(5)]
    tickets = [join(client, tb, p).json for p in people]
    assert [t["arrival"] for t in tickets] == sorted(t["arrival"] for t in tickets)
    assert queue.admit() == 1 and client.get(f"/queue/{tickets[0]['ticket']}").json["state"] == "waiting"
    clock.advance(timedelta(seconds=60))  # a minute after the room opened: two of them at 2 a minute are owed,
    assert queue.admit() == 1
    clock.advance(timedelta(seconds=30))  # paid in turns at twice the rate: one every 15 s
    states = [client.get(f"/queue/{t['ticket']}").json for t in tickets]
    assert [s["state"] for s in states] == ["admitted", "admitted", "waiting", "waiting", "waiting"]
    assert [s["position"] for s in states] == [0, 0, 1, 2, 3]
    assert states[4]["estimated_wait_seconds"] == 60  # its turn is planned: 90 s after the step
    # The admitted hold; the waiting do not, with or without their ticket.
    assert hold(client, slots[0], people[0], tickets[0]["ticket"]).status == 201
    refused = hold(client, slots[0], people[2], tickets[2]["ticket"])
    assert (refused.status, refused.json["error"]["code"]) == (403, "queue_required")
    assert hold(client, slots[0], people[3]).status == 403
    clock.advance(timedelta(seconds=45))
    queue.admit()
    assert hold(client, slots[1], people[2], tickets[2]["ticket"]).status == 201  # a fresh look at the room
    assert client.get(f"/queue/{tickets[4]['ticket']}").json["state"] == "waiting"


def test_a_forged_another_persons_or_another_timebooks_ticket_is_refused(client, demo, staff_token, room):
    tb, slots = room
    other_tb, other_slots = make_timebook(
        client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 100}
    )
    mine, other = Citizen(51), Citizen(52)
    ticket = join(client, tb, mine).json["ticket"]
    other_ticket = join(client, other_tb, mine).json["ticket"]
    clock.advance(timedelta(seconds=60))
    queue.admit()
    clock.advance(timedelta(seconds=30))  # the owed are admitted in turns
    assert hold(client, slots[0], mine, ticket).status == 201
    payload, signature = ticket.split(".")
    for wrong, who, slot in [
        (ticket, other, slots[1]),  # another person's ticket
        (other_ticket, mine, slots[1]),  # another timebook's ticket
        (payload + "." + signature[::-1], mine, slots[1]),  # forged
        ("not a ticket", mine, slots[1]),
    ]:
        refused = hold(client, slot, who, wrong)
        assert (refused.status, refused.json["error"]["code"]) == (403, "queue_required"), wrong
    assert client.get(f"/queue/{payload}.{signature[::-1]}").status == 404
    # First available time is guarded the same way, and so is booking straight from a slot.
    refused = client.post("/holds", {"timebook_id": tb}, token=other.token)
    assert refused.status == 403
    straight = client.post(
        "/appointments", {"slot_id": slots[2], "answers": {"q1": "ja"}, "phone": other.phone}, token=other.token
    )
    assert (straight.status, straight.json["error"]["code"]) == (403, "queue_required")
    assert hold(client, other_slots[0], mine, other_ticket).status == 201


def test_a_timebook_without_a_room_takes_holds_as_before_and_has_no_queue(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token)
    assert client.get(f"/timebooks/{tb}").json["waiting_room"] is None
    assert hold(client, slots[0], Citizen(61)).status == 201
    refused = join(client, tb, Citizen(61))
    assert (refused.status, refused.json["error"]["code"]) == (409, "no_waiting_room")
    assert client.post("/timebooks/nope/queue", token=Citizen(61).token).status == 404


def test_staff_cannot_join_and_the_poll_is_cacheable(client, room, staff_token):
    tb, _ = room
    assert client.post(f"/timebooks/{tb}/queue", token=staff_token).status == 403
    ticket = join(client, tb, Citizen(71)).json
    polled = client.get(f"/queue/{ticket['ticket']}")
    assert polled.status == 200
    assert polled.headers["cache-control"] == f"public, max-age={polled.json['poll_after_seconds']}"


def test_polls_read_no_table(client, room, dynamodb_calls):
    tb, _ = room
    ticket = join(client, tb, Citizen(81)).json["ticket"]
    queue.admit()
    client.get(f"/queue/{ticket}")
    dynamodb_calls.clear()
    for _ in range(50):
        assert client.get(f"/queue/{ticket}").status == 200
    assert sum(dynamodb_calls.values()) == 0
    clock.advance(timedelta(seconds=queue.ROOM_CACHE_SECONDS))
    for _ in range(50):
        client.get(f"/queue/{ticket}")
    assert dict(dynamodb_calls) == {"GetItem": 1}  # the room's state, once per few seconds per process


def test_room_and_waves_are_validated_field_by_field(client, demo, staff_token):
    body = timebook_body(
        demo.smittevern_id,
        waiting_room={"enabled": True, "admit_per_minute": 0},
        waves=[{"opens_at": "2030-03-01T08:00:00", "born_from": "1960-01-01", "born_to": "1950-01-01"}],
    )
    refused = client.post("/admin/timebooks", body, token=staff_token)
    assert refused.status == 400
    fields = {f["field"] for f in refused.json["error"]["fields"]}
    assert fields == {"waiting_room.admit_per_minute", "waves.0.opens_at", "waves.0.born_to"}


def test_holds_before_the_wave_of_the_person_they_are_for_name_the_time(client, demo, staff_token):
    parent = Citizen(91)
    child = Citizen(92)
    born = birth_date(child.pid)
    opens = clock.now() + timedelta(hours=5)
    waves = [
        {"opens_at": opens.isoformat(), "born_from": born, "born_to": born},
        {"opens_at": clock.now().isoformat(), "born_from": "1900-01-01", "born_to": "1900-12-31"},
    ]
    tb, slots = make_timebook(client, demo, staff_token, waves=waves)
    shown = client.get(f"/timebooks/{tb}").json["waves"]
    assert shown[0]["born_from"] == born
    assert datetime.fromisoformat(shown[0]["opens_at"]) == opens
    mother = Citizen(91, represents=[{"pid": child.pid, "name": "Barn"}])
    refused = hold(client, slots[0], mother, for_pid=child.pid)
    assert (refused.status, refused.json["error"]["code"]) == (403, "not_open_yet")
    assert datetime.fromisoformat(refused.json["error"]["opens_at"]) == opens
    straight = client.post(
        "/appointments",
        {"slot_id": slots[1], "for_pid": child.pid, "answers": {"q1": "ja"}, "phone": parent.phone},
        token=mother.token,
    )
    assert (straight.status, straight.json["error"]["code"]) == (403, "not_open_yet")
    # The parent is in no wave: open since the last wave opened (in five hours) too.
    assert hold(client, slots[0], parent).status == 403
    clock.advance(timedelta(hours=5))
    assert hold(client, slots[0], mother, for_pid=child.pid).status == 201
    assert datetime.now(UTC) < clock.now()


def test_shed_load_is_counted_after_an_answered_request_and_slows_admission(client, room):
    from chalicelib.storage import queue as queue_storage

    tb, _ = room
    tickets = [join(client, tb, Citizen(100 + n)).json["ticket"] for n in range(4)]
    before = queue_storage.shed_total()
    queue.note_shed()  # two 429s answered: nothing written while refusing
    queue.note_shed()
    assert queue_storage.shed_total() == before
    assert client.get(f"/timebooks/{tb}").status == 200  # the next answered request adds them
    assert queue_storage.shed_total() == before + 2
    clock.advance(timedelta(seconds=60))
    queue.admit()  # 2 a minute, halved: one owed, admitted in a turn 30 s on
    clock.advance(timedelta(seconds=30))
    states = [client.get(f"/queue/{t}").json["state"] for t in tickets]
    assert states == ["admitted", "waiting", "waiting", "waiting"]
