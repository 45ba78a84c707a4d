"""Staff change a timebook's settings (PATCH /admin/timebooks/{id}, issue 20): validated as on
creation, optimistic (two staff at once: one wins, the other is told), seen at once by this
process, and a room turned on mid-surge strands nobody who already holds a place."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from chalicelib import clock
from chalicelib.booking import queue
from chalicelib.domain.identity import birth_date
from tests.booking.test_queue import hold, join, make_timebook
from tests.conftest import Citizen, token_for
from tests.factories import make_pid


def patch(client: Any, tb: str, body: dict[str, Any], token: str) -> Any:
    return client.request("PATCH", f"/admin/timebooks/{tb}", json_body=body, token=token)


def test_the_settings_given_change_and_the_rest_stay(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token)
    before = client.get(f"/timebooks/{tb}").json
    assert before["version"] == 0
    born = birth_date(Citizen(5).pid)
    opens = (clock.now() + timedelta(days=1)).isoformat()
    changed = patch(
        client,
        tb,
        {
            "version": 0,
            "waiting_room": {"enabled": True, "admit_per_minute": 30},
            "waves": [{"opens_at": opens, "born_from": born, "born_to": born}],
            "max_active_per_person": None,
            "hold_minutes": 5,
        },
        staff_token,
    )
    assert changed.status == 200, changed
    body = changed.json
    assert body["version"] == 1
    assert body["waiting_room"] == {"enabled": True, "admit_per_minute": 30}
    assert body["waves"][0]["born_from"] == born and body["max_active_per_person"] is None
    assert body["hold_minutes"] == 5
    unchanged = {"name", "locations", "form", "retention_days", "waitlist_offer_minutes", "cancel_deadline_hours"}
    assert {k: body[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert client.get(f"/timebooks/{tb}").json == body  # this process forgot its cached timebook
    # The new rules hold at once in this process: the wave (checked before the room).
    assert hold(client, slots[0], Citizen(5)).json["error"]["code"] == "not_open_yet"
    # Turned off again: holds need no ticket; a wave of nobody and no limit.
    again = patch(client, tb, {"version": 1, "waiting_room": None, "waves": []}, staff_token)
    assert again.status == 200 and again.json["waiting_room"] is None and again.json["version"] == 2
    assert hold(client, slots[0], Citizen(6)).status == 201
    audit = client.get(f"/admin/timebooks/{tb}/audit", token=staff_token).json["items"]
    assert [r["action"] for r in audit[:2]] == ["timebook_changed", "timebook_changed"]


def test_a_change_on_a_stale_version_is_refused_not_overwritten(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token)
    assert patch(client, tb, {"version": 0, "hold_minutes": 7}, staff_token).status == 200
    stale = patch(client, tb, {"version": 0, "hold_minutes": 9}, staff_token)
    assert (stale.status, stale.json["error"]["code"]) == (409, "timebook_changed")
    assert client.get(f"/timebooks/{tb}").json["hold_minutes"] == 7


def test_two_staff_at_once_one_wins_the_other_is_told(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token)
    answers: list[Any] = []
    start = threading.Barrier(6)

    def edit(minutes: int) -> None:
        start.wait()
        answers.append(patch(client, tb, {"version": 0, "hold_minutes": minutes}, staff_token))

    threads = [threading.Thread(target=edit, args=(n + 2,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [a for a in answers if a.status == 200]
    assert len(won) == 1 and sorted(a.status for a in answers) == [200] + [409] * 5
    found = client.get(f"/timebooks/{tb}").json
    assert (found["version"], found["hold_minutes"]) == (1, won[0].json["hold_minutes"])


def test_validated_field_by_field_as_on_creation(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token)
    refused = patch(
        client,
        tb,
        {
            "version": 0,
            "waiting_room": {"enabled": True, "admit_per_minute": 0},
            "waves": [{"opens_at": "2030-03-01T08:00:00", "born_from": "1960-01-01", "born_to": "1950-01-01"}],
            "hold_minutes": 0,
            "retention_days": 0,
        },
        staff_token,
    )
    assert refused.status == 400
    fields = {f["field"] for f in refused.json["error"]["fields"]}
    assert fields == {
        "waiting_room.admit_per_minute",
        "waves.0.opens_at",
        "waves.0.born_to",
        "hold_minutes",
        "retention_days",
    }
    wrong = [{"version": 0}, {"hold_minutes": 5}, {"version": 0, "name": "Nytt"}, {"version": -1, "hold_minutes": 5}]
    for body in wrong:
        answer = patch(client, tb, body, staff_token)
        assert answer.status == 400, (body, answer)
    assert client.get(f"/timebooks/{tb}").json["version"] == 0


def test_only_the_timebooks_own_staff(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token)
    outsider = token_for(make_pid(130), "staff", "Annen", orgs=["9999999"])
    hidden = patch(client, tb, {"version": 0, "hold_minutes": 5}, outsider)
    assert (hidden.status, hidden.json["error"]["code"]) == (404, "timebook_not_found")
    assert patch(client, "tbnope", {"version": 0, "hold_minutes": 5}, staff_token).status == 404
    assert patch(client, tb, {"version": 0, "hold_minutes": 5}, Citizen(7).token).status == 403


def test_a_room_turned_on_mid_surge_strands_no_one_holding_and_admits_from_now(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token)
    holding = Citizen(11)
    held = hold(client, slots[0], holding)
    assert held.status == 201
    on = patch(client, tb, {"version": 0, "waiting_room": {"enabled": True, "admit_per_minute": 2}}, staff_token)
    assert on.status == 200
    booking = {"hold_id": held.json["id"], "answers": {"q1": "ja"}, "phone": holding.phone}
    booked = client.post("/appointments", booking, token=holding.token)
    assert booked.status == 201, booked  # the hold taken before the room passes
    newcomer = Citizen(12)
    assert hold(client, slots[1], newcomer).json["error"]["code"] == "queue_required"
    ticket = join(client, tb, newcomer).json["ticket"]
    clock.advance(timedelta(seconds=30))
    queue.admit()
    clock.advance(timedelta(seconds=15))  # the one owed is admitted in a turn, at twice the rate
    assert client.get(f"/queue/{ticket}").json["state"] == "admitted"  # half a minute at 2 a minute
    # Off for ten minutes, then on again: the time it was off lets no crowd in at once.
    room = {"enabled": False, "admit_per_minute": 2}
    assert patch(client, tb, {"version": 1, "waiting_room": room}, staff_token).status == 200
    late = [join(client, tb, Citizen(20 + n)) for n in range(4)]
    assert all(answer.status == 409 for answer in late)  # no room to join while it is off
    clock.advance(timedelta(minutes=10))
    assert patch(client, tb, {"version": 2, "waiting_room": {**room, "enabled": True}}, staff_token).status == 200
    tickets = [join(client, tb, Citizen(20 + n)).json["ticket"] for n in range(4)]
    queue.admit()
    assert [client.get(f"/queue/{t}").json["state"] for t in tickets] == ["waiting"] * 4
    clock.advance(timedelta(seconds=60))
    queue.admit()
    clock.advance(timedelta(seconds=30))  # the two owed, in turns at twice the rate
    assert [client.get(f"/queue/{t}").json["state"] for t in tickets] == ["admitted"] * 2 + ["waiting"] * 2
