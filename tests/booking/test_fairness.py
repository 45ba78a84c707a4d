"""Issue 8: fair under a crowd. One live hold per person and timebook, for_pid on holds, no hold
beyond the limit, appointments that end stop counting, reschedule rules, processes enforced,
idempotent holds that never answer a dead hold, and transactions that lose a race retried."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from chalicelib import clock
from tests.conftest import KORONATEST_ANSWERS, Citizen, demo_staff_token
from tests.helpers import (
    book_body,
    first_free_slot,
    free_slots,
    relay_stream,
    slot_free,
    stream_messages,
    timebook_body,
)


def _hold(client: Any, token: str, **body: Any) -> Any:
    return client.post("/holds", body, token=token)


def test_a_new_hold_replaces_the_old_one_and_frees_its_place(client, demo, citizen):
    tb = demo.koronatest_id
    first, second = free_slots(client, tb, first_free_slot(client, tb)["start"][:10])[:2]
    day = first["start"][:10]
    old = _hold(client, citizen.token, slot_id=first["id"])
    assert old.status == 201
    assert slot_free(client, tb, first["id"], day) == 1
    new = _hold(client, citizen.token, slot_id=second["id"])
    assert new.status == 201
    assert slot_free(client, tb, first["id"], day) == 2, "the replaced hold still blocks its place"
    assert slot_free(client, tb, second["id"], day) == 1
    stale = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=old.json["id"]), token=citizen.token
    )
    assert stale.status == 409 and stale.json["error"]["code"] == "hold_gone"
    made = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=new.json["id"]), token=citizen.token
    )
    assert made.status == 201, made


def test_holding_the_same_slot_again_keeps_one_place(client, demo, citizen):
    """The portal's back button: holding the same time again is one place, not two."""
    slot = first_free_slot(client, demo.koronatest_id)
    for _ in range(5):
        assert _hold(client, citizen.token, slot_id=slot["id"]).status == 201
    assert slot_free(client, demo.koronatest_id, slot["id"], slot["start"][:10]) == 1


def test_a_script_with_one_token_holds_at_most_one_place(client, demo, citizen):
    tb = demo.koronatest_id
    day = first_free_slot(client, tb)["start"][:10]
    slots = free_slots(client, tb, day)
    before = sum(s["free"] for s in slots)
    for n in range(30):
        _hold(client, citizen.token, slot_id=slots[n % len(slots)]["id"])
        _hold(client, citizen.token, timebook_id=tb)
    after = sum(s["free"] for s in free_slots(client, tb, day))
    others = sum(s["free"] for d in {s["start"][:10] for s in slots} for s in free_slots(client, tb, d))
    assert before - after <= 1 and before - others <= 1


def test_for_pid_names_whom_the_place_is_for(client, demo):
    child = Citizen(402)
    parent = Citizen(401, represents=[{"pid": child.pid, "name": "Barn Barnesen"}])
    tb = demo.koronatest_id
    day = first_free_slot(client, tb)["start"][:10]
    a, b = free_slots(client, tb, day)[:2]
    for_child = _hold(client, parent.token, slot_id=a["id"], for_pid=child.pid)
    for_self = _hold(client, parent.token, slot_id=b["id"])
    assert for_child.status == 201 and for_self.status == 201
    assert (
        slot_free(client, tb, a["id"], day) == 1 and slot_free(client, tb, b["id"], day) == 1
    )  # two people, two holds
    made = client.post(
        "/appointments", book_body(parent.phone, KORONATEST_ANSWERS, hold_id=for_child.json["id"]), token=parent.token
    )
    assert made.status == 201 and made.json["for"]["name"] == "Barn Barnesen"
    wrong = client.post(
        "/appointments",
        book_body(parent.phone, KORONATEST_ANSWERS, hold_id=for_self.json["id"], for_pid=child.pid),
        token=parent.token,
    )
    assert wrong.status == 409 and wrong.json["error"]["code"] == "hold_for_other_person"
    stranger = _hold(client, parent.token, slot_id=a["id"], for_pid=Citizen(403).pid)
    assert stranger.status == 403 and stranger.json["error"]["code"] == "not_representative"
    bad = _hold(client, parent.token, slot_id=a["id"], for_pid="12345678901")
    assert bad.status == 400 and bad.json["error"]["fields"][0]["field"] == "for_pid"


def test_no_hold_at_the_limit(client, demo, citizen):
    tb = demo.koronatest_id  # max_active_per_person: 1 (the default)
    slot = first_free_slot(client, tb)
    assert (
        client.post(
            "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"]), token=citizen.token
        ).status
        == 201
    )
    other = next(s for s in free_slots(client, tb, slot["start"][:10]) if s["id"] != slot["id"])
    for body in ({"slot_id": other["id"]}, {"timebook_id": tb}):
        refused = _hold(client, citizen.token, **body)
        assert refused.status == 409 and refused.json["error"]["code"] == "active_appointment_exists", refused


def _soon_timebook(client: Any, staff: str, health_contact_id: str, **changes: Any) -> tuple[str, str]:
    """A timebook with one location and 15-minute slots from 08:00 on a day a month ahead; the
    clock is set to 07:58 that day, so its first slot starts two minutes from now."""
    day = (clock.local(clock.now()) + timedelta(days=30)).date()
    clock.advance(datetime.combine(day, time(7, 58), tzinfo=clock.OSLO) - clock.now())
    body = timebook_body(health_contact_id, cancel_deadline_hours=0, **changes)
    tb = client.post("/admin/timebooks", body, token=staff).json["id"]
    location = client.post(f"/admin/timebooks/{tb}/locations", {"name": "A", "address": "Gaten 1"}, token=staff).json[
        "id"
    ]
    schedule = {
        "location_id": location,
        "from": day.isoformat(),
        "to": day.isoformat(),
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": "10:00",
        "slot_minutes": 15,
        "capacity": 1,
    }
    assert client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff).status == 201
    return tb, location


def test_an_appointment_that_has_passed_stops_counting(client, demo, citizen):

    staff = demo_staff_token()
    tb, _ = _soon_timebook(client, staff, demo.smittevern_id, requires_confirmation=False)
    slots = free_slots(client, tb, clock.local(clock.now()).date().isoformat())
    made = client.post(
        "/appointments", book_body(citizen.phone, {"q1": "ja"}, slot_id=slots[0]["id"]), token=citizen.token
    )
    assert made.status == 201 and made.json["start"][11:16] == "08:00"
    later = slots[-1]["id"]
    refused = client.post("/appointments", book_body(citizen.phone, {"q1": "ja"}, slot_id=later), token=citizen.token)
    assert refused.status == 409 and refused.json["error"]["code"] == "active_appointment_exists"
    assert _hold(client, citizen.token, slot_id=later).status == 409
    stream_messages()  # what was told so far
    clock.advance(timedelta(minutes=10))  # it has begun: still counts
    assert _hold(client, citizen.token, slot_id=later).status == 409
    clock.advance(timedelta(minutes=8))  # 08:16: it has ended, nobody did anything
    assert _hold(client, citizen.token, slot_id=later).status == 201
    again = client.post(
        "/appointments", book_body(citizen.phone, {"q1": "ja"}, slot_id=slots[-2]["id"]), token=citizen.token
    )
    assert again.status in (201, 409)  # the hold above is not needed for a direct booking
    assert len(stream_messages()) <= 1, "passing sent the citizen a message"
    listed = client.get(f"/appointments/{made.json['id']}", token=citizen.token).json
    assert listed["status"] == "booked"  # no state change, no message: it simply stopped counting


def test_reschedule_of_a_confirmed_appointment_is_a_request_again_and_takes_the_new_length(client, demo, citizen):
    from chalicelib.messaging import consumer
    from chalicelib.messaging.local_consumer import drain_queue

    staff = demo_staff_token()
    tb, _ = _soon_timebook(client, staff, demo.smittevern_id, requires_confirmation=True)
    clock.advance(timedelta(days=-1))  # a day before, so the move is before the start
    loc2 = client.post(f"/admin/timebooks/{tb}/locations", {"name": "B", "address": "Veien 2"}, token=staff).json["id"]
    day = (clock.local(clock.now()) + timedelta(days=1)).date().isoformat()
    long_slots = {
        "location_id": loc2,
        "from": day,
        "to": day,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "12:00",
        "end_time": "13:00",
        "slot_minutes": 30,
        "capacity": 1,
    }
    assert client.post(f"/admin/timebooks/{tb}/schedules", long_slots, token=staff).status == 201
    slots = free_slots(client, tb, day)
    short = slots[0]
    long = next(s for s in slots if s["location_id"] == loc2)
    made = client.post(
        "/appointments", book_body(citizen.phone, {"q1": "ja"}, slot_id=short["id"]), token=citizen.token
    ).json
    assert made["duration_minutes"] == 15
    assert client.post(f"/admin/appointments/{made['id']}/confirm", {}, token=staff).json["status"] == "booked"
    moved = client.post(f"/appointments/{made['id']}/reschedule", {"slot_id": long["id"]}, token=citizen.token)
    assert moved.status == 200, moved
    assert moved.json["status"] == "requested" and moved.json["duration_minutes"] == 30
    assert moved.json["end"] == long["end"]
    ics = client.get(f"/appointments/{made['id']}/ics", token=citizen.token).text
    assert "DTEND;TZID=Europe/Oslo:" + long["end"][:16].replace("-", "").replace(":", "") in ics.replace("\r\n", "\n")
    assert "Antatt varighet: 30 min" in ics.replace("\r\n ", "")
    relay_stream()
    import os

    drain_queue(os.environ["EVENTS_QUEUE_URL"], consumer.handle_batch)
    inbox = client.get("/inbox", token=citizen.token).json["items"]
    rescheduled = [m for m in inbox if m["kind"] == "rescheduled"]
    assert rescheduled and "forespørsel" in rescheduled[0]["body"]
    assert client.post(f"/admin/appointments/{made['id']}/confirm", {}, token=staff).json["status"] == "booked"


def test_a_health_contact_without_timebestilling_takes_no_holds_or_bookings(client, demo, citizen):
    staff = demo_staff_token()
    from chalicelib.local.demo import DEMO_STAFF_PID
    from tests.conftest import token_for

    own = token_for(DEMO_STAFF_PID, "staff", "Sara", orgs=["8100009"])
    contact = client.post(
        "/admin/health-contacts",
        {"organisation": "K", "service": "Lab", "her_id": "8100009", "processes": ["ressursoversikt"]},
        token=own,
    ).json
    tb, _ = _soon_timebook(client, own, contact["id"])
    slot = free_slots(client, tb, clock.local(clock.now()).date().isoformat())[-1]
    hold = _hold(client, citizen.token, slot_id=slot["id"])
    assert hold.status == 409 and hold.json["error"]["code"] == "booking_not_offered"
    made = client.post("/appointments", book_body(citizen.phone, {"q1": "ja"}, slot_id=slot["id"]), token=citizen.token)
    assert made.status == 409 and made.json["error"]["code"] == "booking_not_offered"
    assert _hold(client, citizen.token, timebook_id=tb).status == 409
    assert staff  # the demo's staff token is not needed here


def test_a_replayed_key_of_a_released_or_expired_hold_is_not_answered_as_live(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    headers = {"Idempotency-Key": "hold-1"}
    first = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers=headers)
    assert first.status == 201
    again = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers=headers)
    assert again.status == 200 and again.json["id"] == first.json["id"]  # a lost answer, repeated
    assert client.delete(f"/holds/{first.json['id']}", token=citizen.token).status == 204
    released = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers=headers)
    assert released.status == 409 and released.json["error"]["code"] == "hold_gone"
    second = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers={"Idempotency-Key": "hold-2"})
    assert second.status == 201
    clock.advance(timedelta(minutes=11))
    expired = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token, headers={"Idempotency-Key": "hold-2"})
    assert expired.status == 410 and expired.json["error"]["code"] == "hold_expired"
    assert slot_free(client, demo.koronatest_id, slot["id"], slot["start"][:10]) == 2


def test_a_booking_that_loses_a_transaction_race_is_retried_not_refused(client, demo, citizen, monkeypatch):
    from chalicelib.storage import repository

    slot = first_free_slot(client, demo.koronatest_id)
    hold = _hold(client, citizen.token, slot_id=slot["id"]).json
    real, calls = repository.book, []

    def conflicting_once(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise repository.ConditionFailed(["conflict"])
        real(*args, **kwargs)

    monkeypatch.setattr(repository, "book", conflicting_once)
    made = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=hold["id"]), token=citizen.token
    )
    assert made.status == 201 and len(calls) == 2


def test_transaction_conflict_is_a_lost_race_not_503(client, demo, citizen, monkeypatch):
    """DynamoDB cancels a transaction with TransactionConflict: retried, and at worst 429 `busy`
    (issue 20: load, never a 409 the citizen did not earn)."""
    from pynamodb.exceptions import CancellationReason, TransactWriteError

    class Conflicted(TransactWriteError):
        @property
        def cancellation_reasons(self) -> list[Any]:
            return [CancellationReason(code="TransactionConflict"), None, None, None, None]

    def conflict(self: Any, *args: Any, **kwargs: Any) -> None:
        raise Conflicted("Failed to write transaction items")

    monkeypatch.setattr("pynamodb.transactions.TransactWrite._commit", conflict)
    monkeypatch.setattr("chalicelib.booking.holds.jitter", lambda: None)
    monkeypatch.setattr("chalicelib.booking.appointments.jitter", lambda: None)
    slot = first_free_slot(client, demo.koronatest_id)
    refused = _hold(client, citizen.token, slot_id=slot["id"])
    assert (refused.status, refused.json["error"]["code"]) == (429, "busy"), refused
    assert refused.headers["retry-after"] == "1"
    booked = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"]), token=citizen.token
    )
    assert (booked.status, booked.json["error"]["code"]) == (429, "busy"), booked


def test_throttled_health_contact_creation_is_429_not_her_id_taken(client, demo, monkeypatch):
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import TransactWriteError

    from chalicelib.local.demo import DEMO_STAFF_PID
    from tests.conftest import token_for

    def throttled(self: Any, *args: Any, **kwargs: Any) -> None:
        cause = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")
        raise TransactWriteError("Failed to write transaction items", cause)

    monkeypatch.setattr("pynamodb.transactions.TransactWrite._commit", throttled)
    own = token_for(DEMO_STAFF_PID, "staff", "Sara", orgs=["8100077"])
    answer = client.post(
        "/admin/health-contacts", {"organisation": "K", "service": "S", "her_id": "8100077"}, token=own
    )
    assert answer.status == 429 and answer.headers.get("retry-after"), answer


def test_booking_connection_uses_the_models_short_timeouts(aws):
    from chalicelib.storage import transactions

    config = transactions.connection().client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 5)
    assert config.max_pool_connections == 32


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/appointments", {"description": "\ud800"}, "description"),
        ("/appointments", {"phone": "912\u000034567"}, "phone"),
        ("/appointments", {"answers": {"symptomer": "ja\ud83d"}}, "answers"),
        ("/appointments", {"answers": {"sym\u0000": "ja"}}, "answers"),
        ("/holds", {"for_pid": "\udfff"}, "for_pid"),
    ],
)
def test_unstorable_text_is_400_naming_the_field(client, demo, citizen, path, body, field):
    slot = first_free_slot(client, demo.koronatest_id)
    full = {"slot_id": slot["id"], **body}
    if path == "/appointments":
        full = {**book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"]), **body}
    raw = json.dumps(full)  # ensure_ascii: lone surrogates travel as \\udXXX escapes, as a client sends them
    answer = client.request("POST", path, raw=raw.encode(), token=citizen.token)
    assert answer.status == 400, answer
    assert field in [f["field"].split(".")[0] for f in answer.json["error"]["fields"]], answer


def test_unstorable_text_from_staff_is_400(client, demo, staff_token):
    answer = client.request(
        "POST",
        "/admin/health-contacts",
        raw=json.dumps({"organisation": "K\u0000", "service": "S", "her_id": "8100001"}).encode(),
        token=staff_token,
    )
    assert answer.status == 400 and answer.json["error"]["fields"][0]["field"] == "organisation"


@pytest.mark.parametrize("month", ["2026-01\n", "2026-1", "202601", "2026-W01"])
def test_months_are_exactly_yyyy_mm(client, demo, month):
    from urllib.parse import quote

    answer = client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={quote(month)}")
    assert answer.status == 400 and answer.json["error"]["fields"][0]["field"] == "month"


@pytest.mark.parametrize("day", ["2026-01-05\n", "20260105", "2026-W02-1", "2026-005"])
def test_dates_are_exactly_yyyy_mm_dd(client, demo, citizen, day):
    from urllib.parse import quote

    answer = client.get(f"/timebooks/{demo.koronatest_id}/slots?date={quote(day)}")
    assert answer.status == 400 and answer.json["error"]["fields"][0]["field"] == "date"
    held = _hold(client, citizen.token, timebook_id=demo.koronatest_id, date=day)
    assert held.status == 400 and held.json["error"]["fields"][0]["field"] == "date"


def test_represents_is_bounded(client, demo):
    from tests.factories import make_pid

    many = Citizen(450, represents=[{"pid": make_pid(460 + n), "name": "Barn"} for n in range(11)])
    assert client.get("/appointments", token=many.token).status == 401
    ten = Citizen(451, represents=[{"pid": make_pid(480 + n), "name": "Barn"} for n in range(10)])
    assert client.get("/appointments", token=ten.token).status == 200


def test_lists_are_paged(client, demo, staff_token):
    from chalicelib.booking import appointments as booking
    from chalicelib.domain.people import Principal
    from chalicelib.http.commands import to_command
    from chalicelib.http.schemas import AppointmentIn

    child = Citizen(471)
    parent = Citizen(470, represents=[{"pid": child.pid, "name": "Barn"}])
    principal = Principal(parent.pid, "citizen", parent.name, represents={child.pid: "Barn"})
    tb = demo.koronavaksine_id
    from dataclasses import replace

    from chalicelib.booking import common

    lifted = replace(common.timebook(tb), max_active_per_person=None)
    common._timebooks.put(tb, lifted)  # this test books many: lift the limit (cached timebook)
    day = first_free_slot(client, tb)["start"][:10]
    slots = free_slots(client, tb, day)
    made = []
    for n, slot in enumerate(slots[:5]):
        for_pid = child.pid if n % 2 else None
        answers = {q["id"]: "nei" for q in client.get(f"/timebooks/{tb}").json["form"]["questions"]}
        body = to_command(AppointmentIn(slot_id=slot["id"], phone=parent.phone, answers=answers, for_pid=for_pid))
        made.append(booking.book(principal, body)[0].id)
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/appointments{query}", token=parent.token)
        assert page.status == 200, page
        assert len(page.json["items"]) <= 2
        seen += [a["id"] for a in page.json["items"]]
        cursor, pages = page.json["next_cursor"], pages + 1
        if cursor is None:
            break
        assert parent.pid not in cursor and child.pid not in cursor
    assert sorted(seen) == sorted(made) and pages >= 3
    everything = client.get("/appointments", token=parent.token).json
    assert len(everything["items"]) == 5 and everything["next_cursor"] is None
    staff_seen, cursor = [], None
    while True:
        query = f"?timebook_id={tb}&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/admin/appointments{query}", token=staff_token).json
        staff_seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(staff_seen) == sorted(made)
    inbox = client.get("/inbox?limit=1", token=parent.token).json
    assert len(inbox["items"]) <= 1 and "next_cursor" in inbox
    for bad in ("limit=0", "limit=201", "limit=abc", "cursor=%21%21", "cursor=eyJwIjotMX0"):
        answer = client.get(f"/appointments?{bad}", token=parent.token)
        assert answer.status == 400 and answer.json["error"]["fields"][0]["field"] in ("limit", "cursor"), answer
