"""Availability summaries: one partition per slot, cheap reads whatever is taken, stated staleness.

The key design (docs/capacity.md): every slot is its own partition, and the public views read
per-day summaries instead of the slots. A summary may be stale by at most the stated staleness,
but counts holds by their expiry at read time, so an expired hold is free at once; "first
available" checks its candidates against the slots themselves before it writes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.slots import parse_slot_id
from chalicelib.storage import keys
from tests.conftest import Citizen
from tests.helpers import first_free_slot, free_slots, slot_free


@pytest.fixture(autouse=True)
def no_view_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each view here reads the published document (test_views_are_memoised_briefly covers the memo)."""
    from chalicelib.booking import availability_docs

    monkeypatch.setattr(availability_docs, "VIEW_MEMO_SECONDS", 0.0)
    availability_docs._view_memo.clear()


@pytest.fixture
def stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Summaries stay as they are for an hour: what a reader sees between refreshes."""
    monkeypatch.setenv("AVAILABILITY_STALENESS_SECONDS", "3600")


def test_every_slot_is_its_own_partition(client, demo):
    slots = free_slots(client, demo.koronatest_id, first_free_slot(client, demo.koronatest_id)["start"][:10])
    partitions = {keys.slot(parse_slot_id(s["id"]))[0] for s in slots}
    assert len(partitions) == len(slots) == 20


def test_calendar_and_day_cost_the_same_however_full(client, demo, dynamodb_calls, monkeypatch):
    """Nothing, empty or full: the views read the published document (issue 20; before, one
    Query each), and so do not grow with what is taken."""
    slot = first_free_slot(client, demo.koronatest_id)
    day, month = slot["start"][:10], slot["start"][:7]
    for n, item in enumerate(free_slots(client, demo.koronatest_id, day)):
        for k in range(2):
            assert client.post("/holds", {"slot_id": item["id"]}, token=Citizen(500 + 2 * n + k).token).status == 201
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 0  # recounted (staleness 0 here)
    client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={month}")  # all of the month recounted
    monkeypatch.setenv("AVAILABILITY_STALENESS_SECONDS", "3600")
    dynamodb_calls.clear()
    calendar = client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={month}")
    assert dict(dynamodb_calls) == {}
    assert next(d["free"] for d in calendar.json["days"] if d["date"] == day) == 0
    dynamodb_calls.clear()
    assert client.get(f"/timebooks/{demo.koronatest_id}/slots?date={day}").json["items"] == []
    assert dict(dynamodb_calls) == {}


def test_an_expired_hold_is_free_in_a_stale_summary(client, demo, dynamodb_calls, stale):
    slot = first_free_slot(client, demo.koronatest_id)
    day = slot["start"][:10]
    parse = parse_slot_id(slot["id"])
    assert parse is not None
    from chalicelib.storage import repository

    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(601).token).status == 201
    repository.invalidate_summary(demo.koronatest_id, parse.local_date, parse.location_id)
    _publish(demo.koronatest_id, day)
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1  # published once: the hold shows
    clock.advance(timedelta(minutes=11))  # past the demo's 10-minute holds, no sweep, no recount
    dynamodb_calls.clear()
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 2
    assert "BatchGetItem" not in dynamodb_calls, "the summary was not recounted: the expiry did it"


def test_a_summary_is_recounted_by_the_publisher_never_by_a_reader(client, demo, monkeypatch):
    """As "first available" reads it (the views read published documents since issue 20). Issue
    20: the stream's publisher recounts the changed days; a reader never does, however old the
    summary (before: a reader recounted one older than the staleness)."""
    monkeypatch.setenv("AVAILABILITY_STALENESS_SECONDS", "30")  # not 2: a busy test machine is slow
    slot = first_free_slot(client, demo.koronatest_id)
    day = slot["start"][:10]
    assert _summary_free(demo.koronatest_id, slot["id"]) == 2
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(602).token).status == 201
    assert _summary_free(demo.koronatest_id, slot["id"]) == 2  # stale, as stated
    clock.advance(timedelta(seconds=31))
    assert _summary_free(demo.koronatest_id, slot["id"]) == 2  # no reader recounts
    _publish(demo.koronatest_id, day)  # what the table's stream does after the hold
    assert _summary_free(demo.koronatest_id, slot["id"]) == 1
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1


def _publish(timebook_id: str, day: str) -> None:
    """What the table's stream does after a change of the day's slots (issue 20): publish it."""
    from chalicelib.booking import availability_docs

    availability_docs.publish(timebook_id, day[:7], {day})


def _summary_free(timebook_id: str, slot_id: str) -> int:
    """Free places of a slot in its day's summary as "first available" reads it."""
    from chalicelib.booking import discovery
    from chalicelib.storage import repository

    ref = parse_slot_id(slot_id)
    assert ref is not None
    summaries = discovery._fresh(repository.query_summaries(timebook_id, f"{ref.local_date:%Y-%m}", day=ref.local_date))
    for summary in summaries:
        for entry, found in zip(summary.entries, summary.refs(), strict=True):
            if found.slot_id == slot_id:
                return entry.free(clock.epoch(clock.now()))
    return 0


def test_first_available_checks_the_slots_themselves(client, demo, stale):
    """A stale summary says the earliest slots are free; they are not: nobody is sent there."""
    from chalicelib.booking import discovery

    first = first_free_slot(client, demo.koronatest_id)
    day = first["start"][:10]
    listed = free_slots(client, demo.koronatest_id, day)  # all free
    _summary_free(demo.koronatest_id, listed[0]["id"])  # the day's summary made now
    taken = {s["id"] for s in listed[:10]}
    for n, slot_id in enumerate(sorted(taken)):
        for k in range(2):
            assert client.post("/holds", {"slot_id": slot_id}, token=Citizen(700 + 2 * n + k).token).status == 201
    assert len(free_slots(client, demo.koronatest_id, day)) == 20, "the summary is stale, as stated"
    found = discovery.first_free(demo.koronatest_id, None, date.fromisoformat(day), spread_places=0)
    earliest = [next(found).slot.slot_id for _ in range(5)]
    assert not taken & set(earliest)
    assert earliest == [s["id"] for s in listed[10:15]]
    # Spread (the default): groups of slots that look to have 12 free places (6 slots here), each
    # in random order: the first group is all taken, the second has 2 free slots, the third 6.
    found = discovery.first_free(demo.koronatest_id, None, date.fromisoformat(day), spread_places=12)
    spread = [next(found).slot.slot_id for _ in range(6)]
    assert set(spread[:2]) == {s["id"] for s in listed[10:12]}
    assert set(spread[2:]) <= {s["id"] for s in listed[12:18]}


def test_first_available_holds_are_spread_and_never_lost_when_quiet(client, demo):
    """With the true state read first, a lone taker never loses a race."""
    from chalicelib.storage import repository

    lost: list[Any] = []
    real = repository.take_hold

    def watch(*args: Any, **kwargs: Any) -> Any:
        try:
            return real(*args, **kwargs)
        except repository.ConditionFailed:
            lost.append(args)
            raise

    repository.take_hold = watch  # type: ignore[assignment]
    try:
        for n in range(12):
            made = client.post("/holds", {"timebook_id": demo.koronatest_id}, token=Citizen(800 + n).token)
            assert made.status == 201, made
    finally:
        repository.take_hold = real  # type: ignore[assignment]
    assert lost == []


def test_posting_a_schedule_again_keeps_what_summaries_counted(client, demo, stale):
    """A re-posted window adds no slot twice and does not reset the counts of existing slots."""
    from chalicelib.storage import repository
    from tests.conftest import demo_staff_token

    slot = first_free_slot(client, demo.koronatest_id)
    day = slot["start"][:10]
    ref = parse_slot_id(slot["id"])
    assert ref is not None
    assert client.post("/holds", {"slot_id": slot["id"]}, token=Citizen(901).token).status == 201
    repository.invalidate_summary(demo.koronatest_id, ref.local_date, ref.location_id)
    _publish(demo.koronatest_id, day)
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1
    again = client.post(
        f"/admin/timebooks/{demo.koronatest_id}/schedules",
        {
            "location_id": demo.teststasjon_id,
            "from": day,
            "to": day,
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": "13:00",
            "slot_minutes": 15,
            "capacity": 2,
        },
        token=demo_staff_token(),
    )
    assert again.status == 201 and again.json["created"] == 0
    assert slot_free(client, demo.koronatest_id, slot["id"], day) == 1
    assert len(free_slots(client, demo.koronatest_id, day)) == 20


def test_views_are_memoised_briefly(client, demo, dynamodb_calls, stale, monkeypatch):
    """Without a CDN, a read storm reaches the document store about once a second per process,
    and DynamoDB only for a month never published (its first viewer publishes it; issue 20:
    before, one Query per view and memo)."""
    from chalicelib.booking import availability_docs

    monkeypatch.setattr(availability_docs, "VIEW_MEMO_SECONDS", 60.0)
    day = first_free_slot(client, demo.koronatest_id)["start"][:10]
    availability_docs._view_memo.clear()
    availability_docs._memory.clear()
    loads = []
    real = availability_docs.load
    monkeypatch.setattr(availability_docs, "load", lambda *a: loads.append(a) or real(*a))
    dynamodb_calls.clear()
    for _ in range(5):
        assert client.get(f"/timebooks/{demo.koronatest_id}/slots?date={day}").status == 200
        assert client.get(f"/timebooks/{demo.koronatest_id}/calendar?month={day[:7]}").status == 200
    assert dynamodb_calls["Query"] == 1
    assert len(loads) == 2  # the first view's, and again under the lock before publishing


def test_a_quiet_first_available_stays_early_and_a_crowd_spreads(client, demo):
    """Alone, a citizen gets one of the earliest 24 places; a crowd spreads over up to 96."""
    from chalicelib.booking import discovery

    discovery._recent.clear()
    first = first_free_slot(client, demo.koronatest_id)
    earliest = [s["id"] for s in free_slots(client, demo.koronatest_id, first["start"][:10])[:12]]
    made = client.post(
        "/holds", {"timebook_id": demo.koronatest_id, "date": first["start"][:10]}, token=Citizen(950).token
    )
    assert made.status == 201 and made.json["slot_id"] in earliest
    assert discovery._spread_for("tb-quiet") == discovery.MIN_SPREAD_PLACES
    spreads = [discovery._spread_for("tb-crowd") for _ in range(20)]
    assert spreads[0] == 24 and spreads[-1] == discovery.SPREAD_PLACES
