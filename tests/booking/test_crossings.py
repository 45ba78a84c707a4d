"""Where this session's features meet (issues 18, 20, 22, 23 merged together): each test crosses two
of them, and fails if either forgets the other.

- closures (18) x the published views (20): a running closure's whole range is off the views at
  once, as it is off the holds;
- waves (20) x the waitlist (18): the waitlist is no back door into a wave that has not opened;
- the waiting room (20) x conflicts (20): a ticket under transaction conflicts is one ticket, and
  a conflict is a 429, never a 5xx;
- retention (23) x SMS (23): the SMS marks that name a person are gone with the rest.

Session 6 (priority lists, settings edits and the sold-out line of issue 20 merged on the above):
- priority lists (20) x the waitlist (18): a listed person may wait from their list's wave, the
  unlisted not before theirs;
- settings edits (20) x waves (20) x holds: a wave moved later by PATCH refuses holds at once,
  one moved earlier allows them at once;
- closures (18) x the sold-out line (20): a closure that takes the last free places tells the
  line it is sold out;
- priority lists (20) x data lifetime (23): a list past its lifetime is not shown in /me/data
  although moto (and DynamoDB, for days) still has it.

Session 7:
- settings edits (20) x priority lists (20) x holds: a PATCH that inserts, reorders and moves waves
  keeps each list with its wave (the hold's `not_open_yet` names the listed wave's new time, never
  the time of the wave now at its old index); leaving a listed wave out is 409 `wave_has_list`
  until staff say the list goes; a PATCH racing an upload loses nobody either way round (both
  orders forced here; both pressed at once over HTTP in tests/race/test_race_waves.py: in-process
  moto is not thread-safe and once gave the upload a 500 and once both a 200).
- sold out per location (20) x "first available" from the published document (20) x a hold's
  lapse: one location's line is told sold out, its crowd is answered without a table read, the
  other location still gives its place, and a lapsed hold is found free again.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import clock, settings
from chalicelib.booking import closures, queue, retention
from chalicelib.domain.identity import birth_date
from chalicelib.local.moto_server import Conflicts
from chalicelib.storage import queue as queue_storage
from chalicelib.storage import repository
from chalicelib.storage import sms as sms_marks
from tests.booking.test_queue import hold, join, make_timebook
from tests.booking.test_wave_lists import upload
from tests.conftest import Citizen
from tests.helpers import timebook_body

# ---- closures (18) x published views (20) ---------------------------------------------------------


def _offset() -> str:
    offset = clock.local(clock.now()).strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def test_a_running_closure_takes_its_whole_range_off_the_views_at_once(client, demo, staff_token, monkeypatch):
    made = client.post("/admin/timebooks", timebook_body(demo.smittevern_id), token=staff_token)
    tb = made.json["id"]
    location = client.post(f"/admin/timebooks/{tb}/locations", {"name": "Lab", "address": "Gata 2"}, token=staff_token)
    first = (clock.local(clock.now()) + timedelta(days=1)).date()
    last = first + timedelta(days=9)
    schedule = {
        "location_id": location.json["id"],
        "from": first.isoformat(),
        "to": last.isoformat(),
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": "08:30",
        "slot_minutes": 15,
        "capacity": 2,
    }
    assert client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff_token).status == 201
    late_day = last - timedelta(days=1)
    assert len(client.get(f"/timebooks/{tb}/slots?date={late_day}").json["items"]) == 2
    monkeypatch.setattr(closures, "BUDGET_SECONDS", -1.0)  # the request stops after its first day
    body = {"from": f"{first}T00:00:00{_offset()}", "to": f"{last}T23:59:00{_offset()}", "reason": "Ombygging"}
    posted = client.post(f"/admin/timebooks/{tb}/closures", body, token=staff_token)
    assert posted.status == 200 and posted.json["complete"] is False, posted
    # The background run has not reached the last days; the views must not offer them anyway.
    day_view = client.get(f"/timebooks/{tb}/slots?date={late_day}").json["items"]
    assert [s for s in day_view if s.get("free", 0) > 0] == [], day_view
    month = client.get(f"/timebooks/{tb}/calendar?month={late_day.isoformat()[:7]}").json["days"]
    assert [d for d in month if d["date"] == late_day.isoformat() and d["free"] > 0] == [], month
    slot_id = client.get(f"/timebooks/{tb}/slots?date={late_day}").json["items"]
    assert slot_id == [] or all(s.get("free", 0) == 0 for s in slot_id)


# ---- waves (20) x the waitlist (18) --------------------------------------------------------------


def test_the_waitlist_is_no_way_around_a_wave_that_has_not_opened(client, demo, staff_token):
    person = Citizen(9301)
    born = birth_date(person.pid)
    opens = clock.now() + timedelta(hours=5)
    waves = [{"opens_at": opens.isoformat(), "born_from": born, "born_to": born}]
    tb, _ = make_timebook(client, demo, staff_token, waves=waves)
    joined = client.post("/waitlist", {"timebook_id": tb}, token=person.token)
    assert (joined.status, joined.json["error"]["code"]) == (403, "not_open_yet"), joined
    assert joined.json["error"]["opens_at"]
    assert client.get("/waitlist", token=person.token).json["items"] == []
    clock.advance(timedelta(hours=5))
    assert client.post("/waitlist", {"timebook_id": tb}, token=person.token).status == 201


# ---- the waiting room (20) x conflicts (20) --------------------------------------------------------


@pytest.mark.moto
def test_a_ticket_under_conflicts_is_one_ticket_and_a_conflict_is_a_429(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 10})
    clock.stop_monotonic()  # backoff sleeps move the clock instead of waiting
    people = [Citizen(9310 + n) for n in range(6)]
    undo = Conflicts(1.0, seed=3).install()
    try:
        answer = client.post(f"/timebooks/{tb}/queue", {}, token=people[0].token)
        assert answer.status == 429 and answer.json["error"]["code"] == "busy", answer
    finally:
        undo()
    conflicts = Conflicts(0.4, seed=7)
    undo = conflicts.install()
    tickets: dict[str, Any] = {}
    try:
        for person in people * 2:  # everyone twice: the second answer is the first ticket
            for _ in range(30):
                answer = client.post(f"/timebooks/{tb}/queue", {}, token=person.token)
                assert answer.status in (200, 201, 429), answer
                if answer.status != 429:
                    break
            else:
                raise AssertionError("429 thirty times")
            ticket = answer.json["ticket"]
            assert tickets.setdefault(person.pid, ticket) == ticket, (person.pid, answer)
    finally:
        undo()
    assert conflicts.injected >= 1
    arrivals = sorted(client.get(f"/queue/{t}").json["arrival"] for t in tickets.values())
    assert len(set(arrivals)) == len(people)


# ---- retention (23) x SMS (23) ------------------------------------------------------------------


@pytest.mark.moto
def test_sms_marks_that_name_a_person_are_erased_when_they_expire(aws):
    pid = Citizen(9320).pid
    day = clock.local(clock.now()).date().isoformat()
    ttl = clock.epoch() + 2 * 86400
    assert sms_marks.take_sms_quota(pid, day, 10, ttl)
    detail = {"pid": pid, "appointment_id": "ap1", "body": "Påminnelse"}
    assert sms_marks.defer_sms("ev-9320", (clock.now() + timedelta(hours=9)).isoformat(), detail, ttl)

    def stored() -> str:
        db = boto3.client("dynamodb", region_name=settings.get().region)
        items = [
            i for page in db.get_paginator("scan").paginate(TableName=settings.get().table_name) for i in page["Items"]
        ]
        return json.dumps(items)

    assert pid in stored()
    retention.erase_expired(steps=100, step=50)
    assert pid in stored()  # not yet expired: still needed (the daily cap, the deferred send)
    clock.advance(timedelta(days=3))
    while not retention.erase_expired(steps=100, step=50).cycle_done:
        pass
    assert pid not in stored()


# ---- priority lists (20) x the waitlist (18) -----------------------------------------------------


def test_a_priority_list_opens_the_waitlist_to_those_listed_and_no_one_else(client, demo, staff_token):
    now = clock.now()
    waves = [
        {"opens_at": (now + timedelta(hours=1)).isoformat()},  # a list only
        {"opens_at": (now + timedelta(hours=10)).isoformat(), "born_from": "1900-01-01", "born_to": "2100-12-31"},
    ]
    tb, _ = make_timebook(client, demo, staff_token, waves=waves)
    listed, other = Citizen(9311), Citizen(9312)
    assert upload(client, tb, 0, {"pids": [listed.pid]}, staff_token).status == 200
    for who in (listed, other):
        refused = client.post("/waitlist", {"timebook_id": tb}, token=who.token)
        assert (refused.status, refused.json["error"]["code"]) == (403, "not_open_yet"), refused
    clock.advance(timedelta(hours=1))
    assert client.post("/waitlist", {"timebook_id": tb}, token=listed.token).status == 201
    refused = client.post("/waitlist", {"timebook_id": tb}, token=other.token)
    assert (refused.status, refused.json["error"]["code"]) == (403, "not_open_yet"), refused
    shown = client.get(f"/timebooks/{tb}").json["waves"][1]["opens_at"]
    assert datetime.fromisoformat(refused.json["error"]["opens_at"]) == datetime.fromisoformat(shown)


# ---- settings edits (20) x waves (20) x holds ----------------------------------------------------


def test_a_wave_moved_by_staff_counts_at_once_for_holds(client, demo, staff_token):
    person = Citizen(9321)
    born = birth_date(person.pid)
    opens = clock.now() + timedelta(hours=2)
    tb, slots = make_timebook(
        client, demo, staff_token, waves=[{"opens_at": opens.isoformat(), "born_from": born, "born_to": born}]
    )
    assert hold(client, slots[0], person).status == 403
    version = client.get(f"/timebooks/{tb}").json["version"]
    earlier = [{"opens_at": clock.now().isoformat(), "born_from": born, "born_to": born}]
    moved = client.request(
        "PATCH", f"/admin/timebooks/{tb}", json_body={"version": version, "waves": earlier}, token=staff_token
    )
    assert moved.status == 200, moved
    assert hold(client, slots[0], person).status == 201  # this process forgot its cached timebook
    later = [{"opens_at": (clock.now() + timedelta(days=1)).isoformat(), "born_from": born, "born_to": born}]
    moved = client.request(
        "PATCH",
        f"/admin/timebooks/{tb}",
        json_body={"version": moved.json["version"], "waves": later},
        token=staff_token,
    )
    assert moved.status == 200, moved
    refused = hold(client, slots[1], person)
    assert (refused.status, refused.json["error"]["code"]) == (403, "not_open_yet"), refused


# ---- closures (18) x the sold-out line (20) ------------------------------------------------------


def test_a_closure_of_the_last_free_places_tells_the_line_it_is_sold_out(client, demo, staff_token):
    tb, _ = make_timebook(client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 1})
    waiting = join(client, tb, Citizen(9331)).json
    clock.advance(timedelta(seconds=60))
    queue.admit()
    assert client.get(f"/queue/{waiting['ticket']}").json["sold_out"] is False
    day = clock.local(clock.now()).date() + timedelta(days=2)
    body = {"from": f"{day}T00:00:00{_offset()}", "to": f"{day}T23:59:00{_offset()}", "reason": "Stengt"}
    closed = client.post(f"/admin/timebooks/{tb}/closures", body, token=staff_token)
    assert closed.status == 200 and closed.json["complete"] is True, closed
    clock.advance(timedelta(seconds=1))
    queue.admit()
    polled = client.get(f"/queue/{waiting['ticket']}").json
    assert polled["sold_out"] is True, polled


# ---- priority lists (20) x data lifetime (23) ----------------------------------------------------


def test_a_priority_list_past_its_lifetime_is_not_shown_though_still_stored(client, demo, staff_token):
    opens = clock.now() + timedelta(hours=1)
    tb, _ = make_timebook(client, demo, staff_token, waves=[{"opens_at": opens.isoformat()}], retention_days=1)
    person = Citizen(9341)
    assert upload(client, tb, 0, {"pids": [person.pid]}, staff_token).status == 200
    assert len(client.get("/me/data", token=person.token).json["priority_lists"]) == 1
    clock.advance(timedelta(hours=1, days=1, minutes=1))  # the last wave opened a retention ago
    assert client.get("/me/data", token=person.token).json["priority_lists"] == []


# ---- settings edits (20) x priority lists (20) x holds -------------------------------------------


def _patch(client: Any, tb: str, body: dict[str, Any], token: str) -> Any:
    body = {"version": _version(client, tb), **body}
    return client.request("PATCH", f"/admin/timebooks/{tb}", json_body=body, token=token)


def _version(client: Any, tb: str) -> int:
    return int(client.get(f"/timebooks/{tb}", headers={"cache-control": "no-cache"}).json["version"])


def _listed_timebook(client: Any, demo: Any, staff_token: str) -> tuple[str, list[str], list[dict[str, Any]]]:
    now = clock.now()
    waves = [
        {"opens_at": (now + timedelta(hours=1)).isoformat()},  # a list only
        {"opens_at": (now + timedelta(hours=10)).isoformat(), "born_from": "1900-01-01", "born_to": "1900-12-31"},
    ]
    tb, slots = make_timebook(client, demo, staff_token, waves=waves)
    return tb, slots, client.get(f"/timebooks/{tb}").json["waves"]


def _opens_at(answer: Any) -> datetime:
    assert (answer.status, answer.json["error"]["code"]) == (403, "not_open_yet"), answer
    return datetime.fromisoformat(answer.json["error"]["opens_at"])


def test_a_list_keeps_to_its_wave_when_staff_insert_reorder_and_move_waves(client, demo, staff_token):
    tb, slots, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    person = Citizen(9351)
    assert upload(client, tb, 0, {"pids": [person.pid]}, staff_token).json["wave_id"] == listed_wave["id"]
    assert _opens_at(hold(client, slots[0], person)) == datetime.fromisoformat(listed_wave["opens_at"])
    # A new wave first, opening sooner than any; the listed wave moved later and to the end.
    soon, moved = clock.now() + timedelta(minutes=30), clock.now() + timedelta(hours=3)
    waves = [
        {"opens_at": soon.isoformat()},
        born_wave,
        {"id": listed_wave["id"], "opens_at": moved.isoformat()},
    ]
    changed = _patch(client, tb, {"waves": waves}, staff_token)
    assert changed.status == 200, changed
    assert [w["id"] for w in changed.json["waves"]][1:] == [born_wave["id"], listed_wave["id"]]
    # The list's old index now names the new wave: keyed on the index, the person would hold at `soon`.
    assert _opens_at(hold(client, slots[0], person)) == moved
    assert _opens_at(hold(client, slots[0], Citizen(9352))) == datetime.fromisoformat(born_wave["opens_at"])
    mine = client.get("/me/data", token=person.token).json["priority_lists"]
    assert [(x["wave"], datetime.fromisoformat(x["opens_at"])) for x in mine] == [(2, moved)]
    clock.advance(timedelta(minutes=31))
    assert _opens_at(hold(client, slots[0], person)) == moved  # the new first wave is not theirs
    clock.advance(timedelta(hours=3))
    assert hold(client, slots[0], person).status == 201


def test_leaving_out_a_listed_wave_is_refused_until_staff_say_the_list_goes(client, demo, staff_token):
    tb, slots, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    person = Citizen(9361)
    assert upload(client, tb, listed_wave["id"], {"pids": [person.pid]}, staff_token).status == 200
    # Left out, or given back without ids as a client that never read them would: both refused.
    without_ids = [{k: w[k] for k in ("opens_at", "born_from", "born_to")} for w in (listed_wave, born_wave)]
    for waves in ([born_wave], without_ids, []):
        refused = _patch(client, tb, {"waves": waves}, staff_token)
        assert (refused.status, refused.json["error"]["code"]) == (409, "wave_has_list"), refused
    assert _opens_at(hold(client, slots[0], person)) == datetime.fromisoformat(listed_wave["opens_at"])
    unknown = _patch(client, tb, {"waves": [{**born_wave, "id": "wvnope"}]}, staff_token)
    assert unknown.status == 400 and unknown.json["error"]["fields"][0]["field"] == "waves.0.id", unknown
    dropped = _patch(client, tb, {"waves": [born_wave], "drop_lists": True}, staff_token)
    assert dropped.status == 200, dropped
    assert _opens_at(hold(client, slots[0], person)) == datetime.fromisoformat(born_wave["opens_at"])
    assert client.get("/me/data", token=person.token).json["priority_lists"] == []
    gone = upload(client, tb, listed_wave["id"], {"pids": [person.pid]}, staff_token)
    assert (gone.status, gone.json["error"]["code"]) == (404, "wave_not_found")


def _between(monkeypatch: Any, module: Any, name: str, meanwhile: Any) -> list[Any]:
    """Run `meanwhile` (another staff member's request, in its own thread) once, just before this
    request's write: after its read, the worst moment."""
    original, done = getattr(module, name), []

    def write(*args: Any, **kwargs: Any) -> Any:
        if not done:
            worker = threading.Thread(target=lambda: done.append(meanwhile()))
            worker.start()
            worker.join()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, write)
    return done


@pytest.mark.moto  # DynamoDB's condition, not the fake's, is what keeps the list
def test_an_upload_that_lands_while_a_patch_drops_its_wave_loses_nobody(client, demo, staff_token, monkeypatch):
    tb, slots, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    person = Citizen(9371)
    # The upload comes between the PATCH's read (no list then) and its write.
    body = {"waves": [born_wave], "version": _version(client, tb)}
    meanwhile = _between(
        monkeypatch,
        repository,
        "change_timebook_settings",
        lambda: upload(client, tb, listed_wave["id"], {"pids": [person.pid]}, staff_token),
    )
    refused = client.request("PATCH", f"/admin/timebooks/{tb}", json_body=body, token=staff_token)
    assert meanwhile[0].status == 200, meanwhile
    assert (refused.status, refused.json["error"]["code"]) == (409, "wave_has_list"), refused
    assert _opens_at(hold(client, slots[0], person)) == datetime.fromisoformat(listed_wave["opens_at"])


@pytest.mark.moto
def test_a_patch_that_drops_the_wave_while_an_upload_reads_it_answers_the_upload_404(
    client, demo, staff_token, monkeypatch
):
    tb, _, (listed_wave, born_wave) = _listed_timebook(client, demo, staff_token)
    person = Citizen(9381)
    # The PATCH comes between the upload's read (the wave there) and its write.
    meanwhile = _between(
        monkeypatch, queue_storage, "add_wave_people", lambda: _patch(client, tb, {"waves": [born_wave]}, staff_token)
    )
    late = upload(client, tb, listed_wave["id"], {"pids": [person.pid]}, staff_token)
    assert meanwhile[0].status == 200, meanwhile
    assert (late.status, late.json["error"]["code"]) == (404, "wave_not_found"), late  # told, not lost quietly
    # By index, the upload lands on whatever wave the index names when it writes, and says which.
    again = upload(client, tb, 0, {"pids": [person.pid]}, staff_token)
    assert (again.status, again.json["wave_id"]) == (200, born_wave["id"])


# ---- session 7: sold out per location (20) x holds that start at the published first day (20) ---


@pytest.mark.moto  # the table's stream publishes
def test_one_location_sold_out_tells_its_line_and_its_first_available_from_the_document(
    client, demo, staff_token, monkeypatch, published, publisher
):
    """Two locations of one room, one place each. The crowd at the Hall takes its place: the line
    of the Hall is told sold out while the Annex's is not, and a "first available" at the Hall
    answers from the published document without a DynamoDB read, while the Annex still gives its
    place. The Hall's hold lapses: the document published before counts it free, the next step
    tells the Hall's line, and the Hall's place is given again (issue 20's sold-out-per-location
    and published-first-day, crossed with the hold's lapse)."""
    from chalicelib.booking import holds
    from tests.helpers import timebook_body

    publish = publisher
    room = {"enabled": True, "admit_per_minute": 600}
    made = client.post("/admin/timebooks", timebook_body(demo.smittevern_id, waiting_room=room), token=staff_token)
    tb = made.json["id"]
    day = (clock.local(clock.now()) + timedelta(days=2)).date().isoformat()
    where = {}
    for name in ("Hall", "Annex"):
        place = client.post(f"/admin/timebooks/{tb}/locations", {"name": name, "address": "Gata 1"}, token=staff_token)
        where[name] = place.json["id"]
        schedule = {
            "location_id": where[name],
            "from": day,
            "to": day,
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": "08:15",
            "slot_minutes": 15,
            "capacity": 1,
        }
        assert client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff_token).status == 201
    publish()

    people = [Citizen(7101 + n) for n in range(4)]
    tickets = {}
    for person, name in zip(people, ("Hall", "Hall", "Annex", "Hall"), strict=True):
        joined = client.post(f"/timebooks/{tb}/queue?location={where[name]}", token=person.token)
        assert joined.status == 201, joined
        tickets[person.pid] = joined.json["ticket"]
    clock.advance(timedelta(seconds=60))
    queue.admit()
    clock.advance(timedelta(seconds=30))  # the owed are admitted in turns
    queue.admit()

    def first_available(person: Citizen, name: str) -> Any:
        body = {"timebook_id": tb, "location_id": where[name]}
        return client.post("/holds", body, token=person.token, headers={"x-queue-ticket": tickets[person.pid]})

    def sold_out(name: str) -> bool:
        return bool(client.get(f"/queue/{tickets[people[1].pid]}?location={where[name]}").json["sold_out"])

    taken = first_available(people[0], "Hall")
    assert taken.status == 201, taken
    publish()
    clock.advance(timedelta(seconds=3))
    queue.admit()
    assert (sold_out("Hall"), sold_out("Annex")) == (True, False)

    calls: list[str] = []
    from chalicelib.storage import repository as repo

    query = repo.query_summaries
    monkeypatch.setattr(repo, "query_summaries", lambda *a, **k: calls.append("query") or query(*a, **k))
    holds._sold_out.clear()
    refused = first_available(people[1], "Hall")
    assert (refused.status, refused.json["error"]["code"]) == (409, "slot_unavailable"), refused
    assert calls == [], "the Hall's crowd is answered from the published document"
    annex = first_available(people[2], "Annex")
    assert annex.status == 201 and annex.json["location_id"] == where["Annex"], annex

    clock.advance(timedelta(minutes=11))  # the Hall's hold lapses: nobody booked from it
    queue.admit()
    assert sold_out("Hall") is False, "a lapsed hold is a free place in the document published before"
    holds._sold_out.clear()
    again = first_available(people[3], "Hall")
    assert again.status == 201 and again.json["slot_id"] == taken.json["slot_id"], again
