"""Every transition, every forbidden one (409), the deadline, reschedule, staff views, .ics, housekeeping."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chalicelib import clock
from tests.conftest import KORONATEST_ANSWERS, Citizen, token_for
from tests.helpers import book_body, first_free_slot, free_slots, slot_free, stream_messages


@pytest.fixture
def requested(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    made = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"]), token=citizen.token
    )
    assert made.status == 201 and made.json["status"] == "requested"
    return made.json


def _staff(client, staff_token, appointment_id, action, reason=None):
    body = {"reason": reason} if reason else {}
    return client.post(f"/admin/appointments/{appointment_id}/{action}", body, token=staff_token)


def _free(client, demo, appointment):
    return slot_free(client, demo.koronatest_id, appointment["slot_id"], appointment["start"][:10])


def test_confirm_makes_it_booked_once(client, staff_token, requested):
    confirmed = _staff(client, staff_token, requested["id"], "confirm")
    assert confirmed.status == 200 and confirmed.json["status"] == "booked"
    again = _staff(client, staff_token, requested["id"], "confirm")
    assert again.status == 409 and again.json["error"]["code"] == "wrong_state"
    assert _staff(client, staff_token, requested["id"], "reject", "for sent").status == 409


def test_reject_frees_the_place_and_is_final(client, demo, staff_token, requested, citizen):
    before = _free(client, demo, requested)
    rejected = _staff(client, staff_token, requested["id"], "reject", "Ikke prioritert gruppe")
    assert rejected.status == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["reason"] == "Ikke prioritert gruppe"
    assert _free(client, demo, requested) == before + 1
    for action in ("confirm", "reject"):
        assert _staff(client, staff_token, requested["id"], action, "x").status == 409
    assert client.post(f"/appointments/{requested['id']}/cancel", {}, token=citizen.token).status == 409


def test_reject_needs_a_reason(client, staff_token, requested):
    response = _staff(client, staff_token, requested["id"], "reject")
    assert response.status == 400 and response.json["error"]["fields"][0]["field"] == "reason"


@pytest.mark.parametrize("confirm_first", [False, True])
def test_citizen_cancels_requested_or_booked_and_frees_the_place(
    client, demo, staff_token, requested, citizen, confirm_first
):
    if confirm_first:
        assert _staff(client, staff_token, requested["id"], "confirm").status == 200
    before = _free(client, demo, requested)
    cancelled = client.post(f"/appointments/{requested['id']}/cancel", {}, token=citizen.token)
    assert cancelled.status == 200 and cancelled.json["status"] == "cancelled"
    assert _free(client, demo, requested) == before + 1
    again = client.post(f"/appointments/{requested['id']}/cancel", {}, token=citizen.token)
    assert again.status == 409 and again.json["error"]["code"] == "wrong_state"
    assert _staff(client, staff_token, requested["id"], "confirm").status == 409


def test_cancel_deadline(client, staff_token, requested, citizen):
    start = datetime.fromisoformat(requested["start"])
    # Koronatest in the demo: changes up to 2 hours before.
    clock.advance(start - clock.now() - timedelta(hours=1, minutes=59))
    late = client.post(f"/appointments/{requested['id']}/cancel", {}, token=citizen.token)
    assert late.status == 409 and late.json["error"]["code"] == "cancel_deadline_passed"
    staff = _staff(client, staff_token, requested["id"], "cancel", "Teststasjonen stenger")
    assert staff.status == 200 and staff.json["status"] == "cancelled"


def test_cancel_just_before_the_deadline(client, requested, citizen):
    start = datetime.fromisoformat(requested["start"])
    clock.advance(start - clock.now() - timedelta(hours=2, minutes=1))
    assert client.post(f"/appointments/{requested['id']}/cancel", {}, token=citizen.token).status == 200


def test_reschedule_takes_the_new_place_and_frees_the_old(client, demo, requested, citizen):
    day = requested["start"][:10]
    others = [s for s in free_slots(client, demo.koronatest_id, day) if s["id"] != requested["slot_id"]]
    target = others[-1]
    old_free, new_free = _free(client, demo, requested), target["free"]
    moved = client.post(f"/appointments/{requested['id']}/reschedule", {"slot_id": target["id"]}, token=citizen.token)
    assert moved.status == 200, moved
    assert moved.json["slot_id"] == target["id"] and moved.json["start"] == target["start"]
    assert moved.json["status"] == "requested"
    assert _free(client, demo, requested) == old_free + 1
    assert slot_free(client, demo.koronatest_id, target["id"], day) == new_free - 1
    listed = client.get(f"/appointments/{requested['id']}", token=citizen.token).json
    assert listed["start"] == target["start"]


def test_reschedule_refusals(client, demo, requested, citizen, other_citizen):
    url = f"/appointments/{requested['id']}/reschedule"
    same = client.post(url, {"slot_id": requested["slot_id"]}, token=citizen.token)
    assert same.status == 409 and same.json["error"]["code"] == "same_slot"
    elsewhere = first_free_slot(client, demo.koronavaksine_id)
    other = client.post(url, {"slot_id": elsewhere["id"]}, token=citizen.token)
    assert other.status == 409 and other.json["error"]["code"] == "other_timebook"
    # A full slot: two others take both places first.
    day = requested["start"][:10]
    full = next(s for s in free_slots(client, demo.koronatest_id, day) if s["id"] != requested["slot_id"])
    for n in (31, 32):
        assert client.post("/holds", {"slot_id": full["id"]}, token=Citizen(n).token).status == 201
    taken = client.post(url, {"slot_id": full["id"]}, token=citizen.token)
    assert taken.status == 409 and taken.json["error"]["code"] == "slot_unavailable"
    assert client.post(url, {"slot_id": elsewhere["id"]}, token=other_citizen.token).status == 404
    assert client.post(f"/appointments/{requested['id']}/cancel", {}, token=citizen.token).status == 200
    assert client.post(url, {"slot_id": full["id"]}, token=citizen.token).status == 409


def test_wrong_people_are_refused(client, demo, requested, citizen, other_citizen):
    outsider = token_for(Citizen(40).pid, "staff", "Annen kommune", orgs=["9999999"])
    for action in ("confirm", "reject", "cancel"):
        response = _staff(client, outsider, requested["id"], action, "x")
        assert response.status == 404, (action, response)
        assert _staff(client, citizen.token, requested["id"], action, "x").status == 403
    assert client.post(f"/appointments/{requested['id']}/cancel", {}, token=other_citizen.token).status == 404
    assert client.get(f"/appointments/{requested['id']}/ics", token=other_citizen.token).status == 404


def test_staff_views(client, demo, staff_token, requested, citizen):
    day = requested["start"][:10]
    hold = client.post("/holds", {"slot_id": requested["slot_id"]}, token=Citizen(50).token)
    assert hold.status == 201
    listed = client.get(f"/admin/appointments?timebook_id={demo.koronatest_id}&status=requested", token=staff_token)
    assert listed.status == 200 and [a["id"] for a in listed.json["items"]] == [requested["id"]]
    by_day = client.get(f"/admin/appointments?timebook_id={demo.koronatest_id}&date={day}", token=staff_token)
    assert [a["id"] for a in by_day.json["items"]] == [requested["id"]]
    none = client.get(f"/admin/appointments?timebook_id={demo.koronatest_id}&status=booked", token=staff_token)
    assert none.json["items"] == []
    overview = client.get(f"/admin/timebooks/{demo.koronatest_id}/overview?date={day}", token=staff_token)
    assert overview.status == 200
    row = next(r for r in overview.json["items"] if r["slot_id"] == requested["slot_id"])
    assert (row["capacity"], row["booked"], row["held"]) == (2, 1, 1)
    assert row["appointments"] == [{"id": requested["id"], "status": "requested", "for": {"name": citizen.name}}]
    assert len(overview.json["items"]) == 20
    bad = client.get(f"/admin/appointments?timebook_id={demo.koronatest_id}&status=nope", token=staff_token)
    assert bad.status == 400
    assert client.get(f"/admin/timebooks/{demo.koronatest_id}/overview?date={day}", token=citizen.token).status == 403


def test_ics_export(client, staff_token, requested, citizen):
    from icalendar import Calendar

    first = client.get(f"/appointments/{requested['id']}/ics", token=citizen.token)
    assert first.status == 200 and first.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(first.text)
    event = calendar.walk("VEVENT")[0]
    assert str(event["UID"]) == f"{requested['id']}@timebok"
    assert event["STATUS"] == "TENTATIVE" and int(event["SEQUENCE"]) == 0
    assert event["DTSTART"].dt.isoformat() == requested["start"]
    assert "TZID=Europe/Oslo" in first.text and "BEGIN:VTIMEZONE" in first.text
    assert "Korona teststasjon A" in str(event["LOCATION"])
    _staff(client, staff_token, requested["id"], "confirm")
    second = Calendar.from_ical(client.get(f"/appointments/{requested['id']}/ics", token=citizen.token).text)
    assert second.walk("VEVENT")[0]["STATUS"] == "CONFIRMED" and int(second.walk("VEVENT")[0]["SEQUENCE"]) == 1
    client.post(f"/appointments/{requested['id']}/cancel", {}, token=citizen.token)
    third = Calendar.from_ical(client.get(f"/appointments/{requested['id']}/ics", token=citizen.token).text)
    assert third["METHOD"] == "CANCEL" and third.walk("VEVENT")[0]["STATUS"] == "CANCELLED"
    assert int(third.walk("VEVENT")[0]["SEQUENCE"]) == 2
    assert str(third.walk("VEVENT")[0]["UID"]) == f"{requested['id']}@timebok"


def test_holds_leave_nothing_to_sweep_and_an_expired_one_is_free(client, demo):
    """A citizen's hold writes no sweep index entry (1 WCU less on the hold and on the booking):
    an expired hold is free by the capacity rule, and a new claim of its place overwrites it."""
    from chalicelib.booking import housekeeping
    from chalicelib.booking.slots import parse_slot
    from chalicelib.storage import keys, repository
    from chalicelib.storage.models import SlotItem

    slot = first_free_slot(client, demo.koronatest_id)
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(60).token).status == 201
    clock.advance(timedelta(minutes=6))
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(61).token).status == 201
    stored = repository.get_slot(parse_slot(slot["id"]), consistent=True)
    item = SlotItem.get(*keys.slot(parse_slot(slot["id"])), consistent_read=True)  # the sweep index is storage's
    assert len(stored.claims) == 2 and item.gsi2pk is None
    clock.advance(timedelta(minutes=11))  # both expired: nothing to tidy, both places free
    assert housekeeping.release_expired_holds() == 0
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(62).token).status == 201
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(63).token).status == 201
    stored = repository.get_slot(parse_slot(slot["id"]), consistent=True)
    assert sorted(c.owner for c in stored.claims.values()) == sorted([Citizen(62).pid, Citizen(63).pid])


def test_reminders_once_per_booked_appointment(client, demo, citizen, staff_token):
    from chalicelib.booking import housekeeping

    tomorrow = (clock.local(clock.now()) + timedelta(days=1)).date().isoformat()
    location = client.get(f"/timebooks/{demo.koronavaksine_id}").json["locations"][0]["id"]
    schedule = {
        "location_id": location,
        "from": tomorrow,
        "to": tomorrow,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "14:00",
        "end_time": "15:00",
        "slot_minutes": 15,
        "capacity": 1,
    }
    assert client.post(f"/admin/timebooks/{demo.koronavaksine_id}/schedules", schedule, token=staff_token).status == 201
    slot = next(s for s in free_slots(client, demo.koronavaksine_id, tomorrow) if s["start"][11:16] == "14:00")
    made = client.post("/appointments", book_body(citizen.phone, {}, slot_id=slot["id"]), token=citizen.token)
    assert made.json["status"] == "booked"
    assert housekeeping.send_reminders() == 1
    assert housekeeping.send_reminders() == 0
    reminders = [m for m in stream_messages() if m["kind"] == "reminder"]
    assert [m["appointment_id"] for m in reminders] == [made.json["id"]]


def test_one_active_appointment_per_person_and_timebook(client, demo, citizen, staff_token):
    first, second = free_slots(client, demo.koronatest_id, first_free_slot(client, demo.koronatest_id)["start"][:10])[
        :2
    ]
    made = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=first["id"]), token=citizen.token
    )
    assert made.status == 201
    again = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=second["id"]), token=citizen.token
    )
    assert again.status == 409 and again.json["error"]["code"] == "active_appointment_exists"
    assert slot_free(client, demo.koronatest_id, second["id"], second["start"][:10]) == second["free"]
    # Another timebook is another count; a child booked by the parent is another person.
    assert (
        client.post(
            "/appointments",
            book_body(citizen.phone, {}, slot_id=first_free_slot(client, demo.koronavaksine_id)["id"]),
            token=citizen.token,
        ).status
        == 201
    )
    assert client.post(f"/appointments/{made.json['id']}/cancel", {}, token=citizen.token).status == 200
    retry = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=second["id"]), token=citizen.token
    )
    assert retry.status == 201, retry
    assert _staff(client, staff_token, retry.json["id"], "reject", "nei").status == 200
    assert (
        client.post(
            "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=first["id"]), token=citizen.token
        ).status
        == 201
    )


def test_a_reschedule_whose_answer_was_lost_is_done_not_a_conflict(client, demo, requested, citizen, monkeypatch):
    """Under load a move can commit while its caller sees a failure (a timeout, and a retry that
    its own write then refuses): the next look finds the appointment at the new time; that is the
    move done (200), not 409 `same_slot`, and the freed place is still announced."""
    from chalicelib.booking import lifecycle
    from chalicelib.storage import repository

    day = requested["start"][:10]
    target = [s for s in free_slots(client, demo.koronatest_id, day) if s["id"] != requested["slot_id"]][-1]
    real, freed = repository.change_appointment, []

    def committed_but_lost(change, now_epoch):
        real(change, now_epoch)
        monkeypatch.setattr(repository, "change_appointment", real)
        raise repository.ConditionFailed(["conflict"])

    monkeypatch.setattr(repository, "change_appointment", committed_but_lost)
    announce = lifecycle.after_commit
    monkeypatch.setattr(lifecycle, "after_commit", lambda **kw: (freed.append(kw), announce(**kw)))
    moved = client.post(f"/appointments/{requested['id']}/reschedule", {"slot_id": target["id"]}, token=citizen.token)
    assert moved.status == 200, moved
    assert moved.json["slot_id"] == target["id"]
    assert freed == [{"freed": [requested["slot_id"]]}]
