"""Priority lists (issue 20): staff put people on a wave by their identity numbers (JSON or CSV,
each checked, bad entries named), and a listed person may hold from the earliest of their
birth-date wave and their list's wave; the hold's check is one lookup, and none once every wave
has opened."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from tests.booking.test_queue import hold, make_timebook
from tests.conftest import Citizen, token_for
from tests.factories import make_pid


def _waves() -> list[dict[str, Any]]:
    now = clock.now()
    return [
        {"opens_at": (now + timedelta(hours=1)).isoformat()},  # a priority list only
        {"opens_at": (now + timedelta(hours=10)).isoformat(), "born_from": "1900-01-01", "born_to": "1900-12-31"},
    ]


def upload(client: Any, tb: str, wave: int, body: Any, token: str, csv: bool = False) -> Any:
    path = f"/admin/timebooks/{tb}/waves/{wave}/people"
    if csv:
        return client.request("POST", path, raw=body, token=token, headers={"content-type": "text/csv"})
    return client.post(path, body, token=token)


def test_a_listed_person_holds_from_their_lists_wave(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token, waves=_waves())
    shown = client.get(f"/timebooks/{tb}").json["waves"]
    assert shown[0]["born_from"] is None and shown[0]["born_to"] is None
    listed, other = Citizen(301), Citizen(302)
    added = upload(client, tb, 0, {"pids": [listed.pid, listed.pid]}, staff_token)
    assert (added.status, added.json) == (200, {"wave": 0, "wave_id": shown[0]["id"], "added": 1})
    opens = [datetime.fromisoformat(w["opens_at"]) for w in shown]
    for who, when in ((listed, opens[0]), (other, opens[1])):
        refused = hold(client, slots[0], who)
        assert (refused.status, refused.json["error"]["code"]) == (403, "not_open_yet")
        assert datetime.fromisoformat(refused.json["error"]["opens_at"]) == when
    clock.advance(timedelta(hours=1))
    assert hold(client, slots[0], listed).status == 201
    assert hold(client, slots[1], other).status == 403
    audit = client.get(f"/admin/timebooks/{tb}/audit", token=staff_token).json["items"]
    assert audit[0]["action"] == "wave_people_added" and listed.pid not in str(audit[0])


def test_bad_numbers_are_named_and_nothing_is_written(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token, waves=_waves())
    good = Citizen(311).pid
    refused = upload(client, tb, 0, {"pids": [good, "12345678901", "abc"]}, staff_token)
    assert refused.status == 400
    fields = refused.json["error"]["fields"]
    assert {f["field"] for f in fields} == {"pids.1", "pids.2"}
    assert "12345678901" not in str(refused.json)  # the number is never echoed
    clock.advance(timedelta(hours=1))
    assert hold(client, slots[0], Citizen(311)).json["error"]["code"] == "not_open_yet"  # not listed
    for wrong in ({"pids": []}, {"pids": "x"}, {}, {"pids": [good], "more": 1}):
        assert upload(client, tb, 0, wrong, staff_token).status == 400, wrong


def test_a_csv_from_a_spreadsheet_with_a_header_and_bad_lines_named(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token, waves=_waves())
    first, second = Citizen(321), Citizen(322)
    text = f"\ufefffodselsnummer;navn\n{first.pid};Første\n\n00000000000;Feil\n"
    refused = upload(client, tb, 0, text.encode(), staff_token, csv=True)
    assert refused.status == 400 and [f["field"] for f in refused.json["error"]["fields"]] == ["line 4"]
    text = f'fodselsnummer\r\n{first.pid}\r\n"{second.pid}",x\r\n'
    added = upload(client, tb, 0, text.encode(), staff_token, csv=True)
    assert (added.status, added.json["added"]) == (200, 2)
    clock.advance(timedelta(hours=1))
    assert hold(client, slots[0], first).status == 201 and hold(client, slots[1], second).status == 201


def test_only_the_timebooks_staff_and_only_its_waves(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token, waves=_waves())
    body = {"pids": [Citizen(331).pid]}
    for wave in ("2", "x", "-1", "1000"):
        missing = client.post(f"/admin/timebooks/{tb}/waves/{wave}/people", body, token=staff_token)
        assert (missing.status, missing.json["error"]["code"]) == (404, "wave_not_found"), wave
    outsider = token_for(make_pid(130), "staff", "Annen", orgs=["9999999"])
    assert upload(client, tb, 0, body, outsider).json["error"]["code"] == "timebook_not_found"
    assert upload(client, tb, 0, body, Citizen(331).token).status == 403
    assert upload(client, "tbnope", 0, body, staff_token).status == 404


def test_the_hold_looks_a_person_up_once_and_not_after_the_last_wave(client, demo, staff_token, dynamodb_calls):
    tb, slots = make_timebook(client, demo, staff_token, waves=_waves())
    assert upload(client, tb, 0, {"pids": [Citizen(341).pid]}, staff_token).status == 200
    hold(client, slots[0], Citizen(342))  # the timebook and health contact in this process's cache
    dynamodb_calls.clear()
    assert hold(client, slots[0], Citizen(343)).status == 403
    assert dict(dynamodb_calls) == {"Query": 1}
    clock.advance(timedelta(hours=10))
    hold(client, slots[0], Citizen(344))
    dynamodb_calls.clear()
    assert hold(client, slots[1], Citizen(345)).status == 201
    assert dynamodb_calls["Query"] == 0  # every wave open: no list read


def test_staff_uploading_at_once_add_up_and_a_list_sent_twice_is_the_same_list(client, demo, staff_token):
    tb, slots = make_timebook(client, demo, staff_token, waves=_waves())
    people = [Citizen(350 + n) for n in range(6)]
    halves = [[p.pid for p in people[:4]], [p.pid for p in people[2:]]]  # overlapping
    answers: list[Any] = []
    start = threading.Barrier(4)

    def send(pids: list[str]) -> None:
        start.wait()
        answers.append(upload(client, tb, 0, {"pids": pids}, staff_token))

    threads = [threading.Thread(target=send, args=(half,)) for half in halves * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status for a in answers) == [200] * 4 and {a.json["added"] for a in answers} == {4}
    clock.advance(timedelta(hours=1))
    for n, person in enumerate(people):
        assert hold(client, slots[n], person).status == 201, person.pid


def test_a_listed_person_finds_the_list_in_their_data(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token, waves=_waves())
    child, other = Citizen(361), Citizen(362)
    assert upload(client, tb, 0, {"pids": [child.pid]}, staff_token).status == 200
    parent = Citizen(363, represents=[{"pid": child.pid, "name": "Barn"}])
    found = client.get("/me/data", token=parent.token).json["priority_lists"]
    assert [(x["pid"], x["timebook_id"], x["wave"]) for x in found] == [(child.pid, tb, 0)]
    assert found[0]["opens_at"] == client.get(f"/timebooks/{tb}").json["waves"][0]["opens_at"]
    assert client.get("/me/data", token=other.token).json["priority_lists"] == []
