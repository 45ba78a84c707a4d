"""Calendar and slot counts, capacity > 1, holds that expire without any sweep, hold ownership."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import clock
from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.helpers import book_body, first_free_slot, free_days, free_slots, slot_free


def test_calendar_counts_free_places_per_day(client, demo):
    days = free_days(client, demo.koronatest_id)
    # Demo: weekdays 08:00-13:00 in 15-minute slots, 2 places each.
    for day in days:
        assert day["free"] % 2 == 0 and day["free"] <= 40
    full_days = [d for d in days if d["free"] == 40]
    assert full_days, "a whole future weekday has 20 slots x 2 places"


def test_calendar_lists_every_day_of_the_month(client, demo):
    response = client.get(f"/timebooks/{demo.koronatest_id}/calendar?month=2024-02")
    assert response.status == 200
    assert [d["date"] for d in response.json["days"]][-1] == "2024-02-29"
    assert all(d["free"] == 0 for d in response.json["days"])  # the past is never free


def test_calendar_by_location(client, demo):
    with_location = free_days(client, demo.koronatest_id, demo.teststasjon_id)
    assert with_location == free_days(client, demo.koronatest_id)


def test_slots_of_a_day_are_ordered_and_bookable(client, demo):
    day = free_days(client, demo.koronatest_id)[-1]["date"]
    items = free_slots(client, demo.koronatest_id, day)
    assert len(items) == 20
    assert [s["start"] for s in items] == sorted(s["start"] for s in items)
    assert items[0]["start"].endswith(("+01:00", "+02:00"))
    assert items[0]["start"][11:16] == "08:00" and items[-1]["end"][11:16] == "13:00"
    assert all(s["free"] == 2 and s["location_id"] == demo.teststasjon_id for s in items)


def test_capacity_two_takes_two_holds_then_refuses(client, demo):
    slot = first_free_slot(client, demo.koronatest_id)
    day = slot["start"][:10]
    first, second, third = Citizen(11), Citizen(12), Citizen(13)
    assert client.post("/holds", {"slot_id": slot["id"]}, token=first.token).status == 201
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1
    assert client.post("/holds", {"slot_id": slot["id"]}, token=second.token).status == 201
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 0
    refused = client.post("/holds", {"slot_id": slot["id"]}, token=third.token)
    assert refused.status == 409 and refused.json["error"]["code"] == "slot_unavailable"


def test_expired_hold_is_free_again_without_any_sweep(client, demo):
    slot = first_free_slot(client, demo.koronatest_id)
    day = slot["start"][:10]
    for n in (21, 22):
        assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(n).token).status == 201
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 0
    clock.advance(timedelta(minutes=10, seconds=1))  # the demo Koronatest holds last 10 minutes
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 2
    late = Citizen(23)
    assert client.post("/holds", {"slot_id": slot["id"]}, token=late.token).status == 201


def test_hold_becomes_appointment_for_its_owner_only(client, demo, citizen, other_citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    hold = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token).json
    stolen = client.post(
        "/appointments",
        book_body(other_citizen.phone, KORONATEST_ANSWERS, hold_id=hold["id"]),
        token=other_citizen.token,
    )
    assert stolen.status == 404, stolen
    assert client.get("/appointments", token=other_citizen.token).json["items"] == []
    mine = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=hold["id"]), token=citizen.token
    )
    assert mine.status == 201, mine
    again = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=hold["id"]), token=citizen.token
    )
    assert again.status == 409 and again.json["error"]["code"] == "hold_gone"


def test_expired_hold_cannot_be_consumed(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    hold = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token).json
    clock.advance(timedelta(minutes=11))
    late = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=hold["id"]), token=citizen.token
    )
    assert late.status == 410 and late.json["error"]["code"] == "hold_expired"


def test_released_hold_frees_the_place(client, demo, citizen, other_citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    day = slot["start"][:10]
    hold = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token).json
    assert client.delete(f"/holds/{hold['id']}", token=other_citizen.token).status == 404
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1
    assert client.delete(f"/holds/{hold['id']}", token=citizen.token).status == 204
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 2
    assert client.delete(f"/holds/{hold['id']}", token=citizen.token).status == 404


def test_book_straight_from_a_slot(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    made = client.post(
        "/appointments", book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"]), token=citizen.token
    )
    assert made.status == 201, made
    body = made.json
    assert body["status"] == "requested"  # Koronatest requires confirmation
    assert body["start"] == slot["start"] and body["duration_minutes"] == 15
    assert body["location"]["name"] == "Korona teststasjon A"
    assert body["location"]["directions"] == "Følg skilting"
    assert body["for"]["name"] == citizen.name
    assert body["phone"].startswith("+479")
    assert [a["answer"] for a in body["answers"]] == ["Ja", "Nei", "Nei", "Nei"]
    assert client.get(f"/appointments/{body['id']}", token=citizen.token).json["id"] == body["id"]


def test_timebook_that_confirms_at_once_books(client, demo, citizen):
    slot = first_free_slot(client, demo.koronavaksine_id)
    made = client.post("/appointments", book_body(citizen.phone, {}, slot_id=slot["id"]), token=citizen.token)
    assert made.status == 201 and made.json["status"] == "booked"


def test_first_available_spreads_over_early_places(client, demo):
    upcoming: list[str] = []
    for day in free_days(client, demo.koronatest_id):
        upcoming.extend(s["id"] for s in free_slots(client, demo.koronatest_id, day["date"]))
        if len(upcoming) >= 70:
            break
    held = []
    for n in range(30):
        response = client.post("/holds", {"timebook_id": demo.koronatest_id}, token=Citizen(100 + n).token)
        assert response.status == 201, response
        held.append(response.json["slot_id"])
    assert len(set(held)) > 5, "a crowd is spread over many slots, not all sent to the earliest"
    # Each pick is among the earliest 24 free places when quiet, up to 96 (48 slots of 2) when a
    # crowd asks (discovery.SPREAD_PLACES): 30 holds stay within the first (30 + 96) / 2 = 63 slots.
    assert all(upcoming.index(slot_id) < 63 for slot_id in held)


def test_first_available_from_a_date_and_location(client, demo, citizen):
    last_day = free_days(client, demo.koronatest_id)[-1]["date"]
    response = client.post(
        "/holds",
        {"timebook_id": demo.koronatest_id, "location_id": demo.teststasjon_id, "date": last_day},
        token=citizen.token,
    )
    assert response.status == 201
    assert response.json["start"][:10] == last_day


def test_idempotency_key_answers_the_same_appointment(client, demo, citizen):
    slot = first_free_slot(client, demo.koronatest_id)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"])
    headers = {"Idempotency-Key": "k-123"}
    first = client.post("/appointments", body, token=citizen.token, headers=headers)
    second = client.post("/appointments", body, token=citizen.token, headers=headers)
    assert first.status == 201 and second.status in (200, 201)
    assert second.json["id"] == first.json["id"]
    assert len(client.get("/appointments", token=citizen.token).json["items"]) == 1
    other = client.post("/appointments", {**body, "description": "annet"}, token=citizen.token, headers=headers)
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_key_reused"


def test_booking_on_behalf_of_a_represented_child(client, demo):
    from tests.factories import make_pid

    child = make_pid(900)
    parent = Citizen(901, represents=[{"pid": child, "name": "Barn Barnesen"}])
    slot = first_free_slot(client, demo.koronatest_id)
    made = client.post(
        "/appointments",
        book_body(parent.phone, KORONATEST_ANSWERS, slot_id=slot["id"], for_pid=child),
        token=parent.token,
    )
    assert made.status == 201, made
    assert made.json["for"]["name"] == "Barn Barnesen" and made.json["booked_by"]["name"] == parent.name
    assert [a["id"] for a in client.get("/appointments", token=parent.token).json["items"]] == [made.json["id"]]
    stranger = Citizen(902)
    assert client.get(f"/appointments/{made.json['id']}", token=stranger.token).status == 404


def test_sold_out_is_remembered_briefly(client, demo, monkeypatch):
    """A crowd arriving after the last place is told so without each reading months of slots."""
    from chalicelib.booking import holds
    from chalicelib.storage import repository

    day = free_days(client, demo.konsultasjon_id)[-1]["date"]
    for n, slot in enumerate(free_slots(client, demo.konsultasjon_id, day)):
        assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(300 + n).token).status == 201
    body = {"timebook_id": demo.konsultasjon_id, "date": day}  # from the last day on, now full
    queries = []
    original = repository.query_summaries
    monkeypatch.setattr(repository, "query_summaries", lambda *a, **k: queries.append(a) or original(*a, **k))
    first = client.post("/holds", body, token=Citizen(400).token)
    assert first.status == 409 and queries
    queries.clear()
    again = client.post("/holds", body, token=Citizen(401).token)
    assert again.status == 409 and again.json["error"]["code"] == "slot_unavailable"
    assert queries == [], "the sold-out answer was remembered"
    monkeypatch.setattr(holds, "SOLD_OUT_MEMO_SECONDS", 0.0)
    holds._sold_out.clear()
    assert client.post("/holds", body, token=Citizen(402).token).status == 409
    assert queries, "after the memo lapses the slots are read again"
