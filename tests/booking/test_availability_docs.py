"""Reads at the edge: the public calendar and day views are served from published documents.

A view reads no table (counted at botocore's level); the table's stream publishes what changed,
so a booking and a closure show in the next publication; a publication costs the same however
many look; an expired hold is free in a document published before it lapsed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.booking import availability_docs
from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.helpers import book_body, first_free_slot, slot_free

pytestmark = pytest.mark.moto  # the table's stream and request counts are moto's


def _day(slot: dict[str, Any]) -> str:
    return str(slot["start"][:10])


def test_a_view_reads_no_table(client, demo, published, dynamodb_calls):
    slot = first_free_slot(client, demo.koronatest_id)
    day = _day(slot)
    dynamodb_calls.clear()
    for _ in range(20):
        assert client.get(f"/timebooks/{demo.koronatest_id}/slots?date={day}").status == 200
        assert client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={day[:7]}").status == 200
    assert sum(dynamodb_calls.values()) == 0, dynamodb_calls


def test_a_publication_costs_the_same_however_many_look(client, demo, published, publisher, dynamodb_calls):
    slot = first_free_slot(client, demo.koronatest_id)
    day = _day(slot)
    costs = []
    for viewers, citizen in ((10, 301), (200, 302)):
        for _ in range(viewers):
            client.get(f"/timebooks/{demo.koronatest_id}/slots?date={day}")
        assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(citizen).token).status == 201
        dynamodb_calls.clear()
        assert publisher() >= 1
        costs.append(dict(dynamodb_calls))
    assert costs[0] == costs[1], costs


def test_a_booking_shows_as_taken_in_the_next_publication(client, demo, published, publisher):
    slot = first_free_slot(client, demo.koronatest_id)
    day = _day(slot)
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 2
    citizen = Citizen(311)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"])
    assert client.post("/appointments", body, token=citizen.token).status == 201
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 2, "not published yet: stale, as stated"
    assert publisher() >= 1
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1
    days = client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={day[:7]}").json["days"]
    assert next(d["free"] for d in days if d["date"] == day) == 2 * 20 - 1


def test_a_closed_slot_is_gone_from_the_next_publication(client, demo, published, publisher, staff_token):
    slot = first_free_slot(client, demo.koronatest_id)
    day = _day(slot)
    closed = client.request("PATCH", f"/admin/slots/{slot['id']}", json_body={"closed": True}, token=staff_token)
    assert closed.status == 200, closed
    assert publisher() >= 1
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 0
    items = client.get(f"/timebooks/{demo.koronatest_id}/slots?date={day}").json["items"]
    assert slot["id"] not in [s["id"] for s in items] and len(items) == 19


def test_an_expired_hold_is_free_in_a_document_published_before(client, demo, published, publisher):
    slot = first_free_slot(client, demo.koronatest_id)
    day = _day(slot)
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(321).token).status == 201
    assert publisher() >= 1
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1
    clock.advance(timedelta(minutes=11))  # past the demo's 10-minute holds; nothing published since
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 2


def test_the_stream_keeps_the_changed_days_summaries_fresh(client, demo, published, publisher, monkeypatch):
    """First-available reads the summaries: the publisher recounts the days it re-read."""
    from chalicelib.domain.slots import parse_slot_id
    from chalicelib.storage import repository

    slot = first_free_slot(client, demo.koronatest_id)
    ref = parse_slot_id(slot["id"])
    assert ref is not None
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(331).token).status == 201
    assert publisher() >= 1
    (summary,) = repository.query_summaries(demo.koronatest_id, _day(slot)[:7], day=ref.local_date)
    entry = next(e for e, r in zip(summary.entries, summary.refs(), strict=True) if r.slot_id == slot["id"])
    assert entry.free(clock.epoch(clock.now())) == 1


def test_a_month_never_published_is_published_by_its_first_viewer_once(client, demo, published, dynamodb_calls):
    slot = first_free_slot(client, demo.koronatest_id)
    month = _day(slot)[:7]
    availability_docs.store().put(availability_docs.name_of(demo.koronatest_id, month), b"", "", 0)
    availability_docs._memory.clear()
    dynamodb_calls.clear()
    assert client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={month}").status == 200
    first = sum(dynamodb_calls.values())
    assert first >= 1
    dynamodb_calls.clear()
    assert client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={month}").status == 200
    assert sum(dynamodb_calls.values()) == 0


def test_a_first_available_query_reads_a_bounded_page_whatever_the_months_size(client, demo, monkeypatch):
    """Issue 20: each Query of the month's summaries reads at most FIRST_FREE_PAGE of them (1 RCU
    for location-days of up to ~150 slots), and a hold stops after the pages it needs."""
    from botocore.client import BaseClient

    from chalicelib.booking import discovery

    pages: list[tuple[int | None, int]] = []
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = real(self, operation, params)
        if operation == "Query" and "#AV#" in str(params.get("ExpressionAttributeValues")):
            pages.append((params.get("Limit"), int(answer.get("Count", 0))))
        return answer

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    made = client.post("/holds", {"timebook_id": demo.koronatest_id}, token=Citizen(341).token)
    assert made.status == 201, made
    assert pages and all(limit == discovery.FIRST_FREE_PAGE and count <= limit for limit, count in pages), pages
    assert len(pages) <= 3, pages  # not the month: the demo has ~20 location-days a month


def test_the_schedules_backstop_republishes_what_the_stream_left_behind(client, demo, published):
    """Two stream batches publishing one month at once can each keep the other's day as it was;
    the feed's schedule republishes this month and the next whole."""
    import app

    slot = first_free_slot(client, demo.koronatest_id)
    day = _day(slot)
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(351).token).status == 201
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 2  # the stream not read: stale
    assert availability_docs.republish() >= 2
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1
    assert app.publish_availability({"Records": []}, None) == {"batchItemFailures": []}


def test_a_view_of_a_location_reads_no_table_and_unknown_ones_are_404(client, demo, published, dynamodb_calls):
    slot = first_free_slot(client, demo.koronatest_id)
    day = _day(slot)
    path = f"/timebooks/{demo.koronatest_id}/slots?date={day}&location={demo.teststasjon_id}"
    assert client.get(path).status == 200
    dynamodb_calls.clear()
    assert next(s["id"] for s in client.get(path).json["items"]) == slot["id"]
    assert sum(dynamodb_calls.values()) == 0, dynamodb_calls
    unknown = client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={day[:7]}&location=locnothere")
    assert unknown.status == 404 and unknown.json["error"]["code"] == "location_not_found", unknown
    assert client.get(f"/timebooks/tbnothere/calendar?month={day[:7]}").status == 404


def test_the_crowd_after_the_last_place_reads_the_published_document_not_the_table(
    client, demo, staff_token, aws, published, publisher, dynamodb_calls
):
    """Issue 20: once the published document says nothing is free from the day on, a "first
    available" hold answers so without a DynamoDB request (before: the month's summaries and the
    slots, by the first request of each process every 2 s); a place freed is found once published."""
    from chalicelib.booking import holds
    from tests.booking.waitlist_world import small_world

    world = small_world(client, demo, staff_token, aws["queue_url"], slots=2, capacity=1)
    body = {"timebook_id": world.timebook_id}
    made = [client.post("/holds", body, token=Citizen(361 + n).token) for n in range(2)]
    assert [m.status for m in made] == [201, 201], made
    assert publisher() >= 1  # the stream publishes the day sold out
    first = client.post("/holds", body, token=Citizen(370).token)  # the empty months after: published once
    assert first.status == 409, first
    dynamodb_calls.clear()
    for n in range(5):
        holds._sold_out.clear()  # no memo of this process: each request asks
        refused = client.post("/holds", body, token=Citizen(371 + n).token)
        assert refused.status == 409 and refused.json["error"]["code"] == "slot_unavailable", refused
    assert sum(dynamodb_calls.values()) == 0, dynamodb_calls
    assert client.delete(f"/holds/{made[0].json['id']}", token=Citizen(361).token).status == 204
    holds._sold_out.clear()
    assert client.post("/holds", body, token=Citizen(380).token).status == 409  # not published yet: stale
    assert publisher() >= 1
    holds._sold_out.clear()
    again = client.post("/holds", body, token=Citizen(381).token)
    assert again.status == 201 and again.json["slot_id"] == made[0].json["slot_id"], again


def test_a_hold_never_recounts_a_summary_however_old(client, demo, published, dynamodb_calls):
    """Issue 20: only the stream's publisher writes the month's summaries (before: a hold that
    found one older than 2 s recounted it, one BatchGetItem of the day's slots and one UpdateItem)."""
    assert client.post("/holds", {"timebook_id": demo.koronatest_id}, token=Citizen(391).token).status == 201
    clock.advance(timedelta(seconds=30))  # every summary is older than the staleness now
    dynamodb_calls.clear()
    made = client.post("/holds", {"timebook_id": demo.koronatest_id}, token=Citizen(392).token)
    assert made.status == 201, made
    assert "UpdateItem" not in dynamodb_calls, dynamodb_calls


@pytest.mark.slow  # 3,360 slots made in moto: ~20 s on a loaded machine
def test_a_first_available_hold_in_a_large_month_reads_at_most_1_rcu_a_query(client, demo, staff_token, monkeypatch):
    """Issue 20: a month of 3,360 slots (4 locations, 30 days, 28 slots a day; ~95 KB of summaries,
    11.5 RCU a Query of it from the day on). Each Query "first available" makes of the summaries
    reads at most 1 RCU, counted by DynamoDB's rules from what it returned, and a hold makes few;
    moto's own ConsumedCapacity is asked for too (it reports a flat figure, not the size)."""
    from botocore.client import BaseClient

    from scripts.bench.capacity import item_size, read_units
    from tests.helpers import timebook_body

    made = client.post("/admin/timebooks", timebook_body(demo.smittevern_id), token=staff_token)
    assert made.status == 201, made
    tb = made.json["id"]
    first = (clock.local(clock.now()).date().replace(day=1) + timedelta(days=32)).replace(day=1)
    while (first + timedelta(days=29)).month != first.month:  # a month of 30 days or more
        first = (first + timedelta(days=32)).replace(day=1)
    created = 0
    for n in range(4):
        location = client.post(
            f"/admin/timebooks/{tb}/locations", {"name": f"Hall {n}", "address": "Gata 1"}, token=staff_token
        )
        assert location.status == 201, location
        schedule = {
            "location_id": location.json["id"],
            "from": first.isoformat(),
            "to": (first + timedelta(days=29)).isoformat(),
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": "15:00",
            "slot_minutes": 15,
            "capacity": 2,
        }
        posted = client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff_token)
        assert posted.status == 201, posted
        created += posted.json["created"]
    assert created == 3360
    queries: list[tuple[float, float]] = []
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        summaries = operation == "Query" and "#AV#" in str(params.get("ExpressionAttributeValues"))
        if summaries:
            params = {**params, "ReturnConsumedCapacity": "TOTAL"}
        answer = real(self, operation, params)
        if summaries:
            size = sum(item_size(item) for item in answer.get("Items", []))
            reported = float(answer.get("ConsumedCapacity", {}).get("CapacityUnits", 0))
            queries.append((read_units(size, bool(params.get("ConsistentRead"))), reported))
        return answer

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    held = client.post("/holds", {"timebook_id": tb, "date": first.isoformat()}, token=Citizen(393).token)
    assert held.status == 201, held
    assert queries and all(units <= 1.0 and reported <= 1.0 for units, reported in queries), queries
    assert len(queries) <= 3, queries


def test_first_available_starts_at_the_first_day_the_document_shows_free(
    client, demo, staff_token, published, publisher, monkeypatch
):
    """Issue 20: the days sold out before the first free one cost no Query of the summaries (before:
    a page of two summaries per Query through every full day, in a surge over many days)."""
    from chalicelib.storage import repository
    from tests.helpers import timebook_body

    made = client.post("/admin/timebooks", timebook_body(demo.smittevern_id), token=staff_token)
    tb = made.json["id"]
    location = client.post(f"/admin/timebooks/{tb}/locations", {"name": "Hall", "address": "Gata 1"}, token=staff_token)
    first = clock.local(clock.now()).date() + timedelta(days=3)
    days = [(first + timedelta(days=n)).isoformat() for n in range(3)]
    schedule = {
        "location_id": location.json["id"],
        "from": days[0],
        "to": days[2],
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": "08:15",
        "slot_minutes": 15,
        "capacity": 1,
    }
    assert client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff_token).json["created"] == 3
    slots = {day: client.get(f"/timebooks/{tb}/slots?date={day}").json["items"][0]["id"] for day in days}
    for n, day in enumerate(days[:2]):
        assert client.post("/holds", {"slot_id": slots[day]}, token=Citizen(395 + n).token).status == 201
    assert publisher() >= 1
    real, asked = repository.query_summaries, []

    def query_summaries(timebook_id: str, month: str, **kwargs: Any) -> Any:
        asked.append((month, kwargs.get("from_day")))
        return real(timebook_id, month, **kwargs)

    monkeypatch.setattr(repository, "query_summaries", query_summaries)
    held = client.post("/holds", {"timebook_id": tb, "date": days[0]}, token=Citizen(397).token)
    assert held.status == 201 and held.json["slot_id"] == slots[days[2]], held
    assert asked and asked[0] == (days[2][:7], date.fromisoformat(days[2])), asked
