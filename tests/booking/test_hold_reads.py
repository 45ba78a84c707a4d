"""What a hold reads (issue 17: the bench's figures must not get worse): the waitlist registry and
the running closures once per hold, not once per attempt, and a slot "first available" has just
read consistently not read again. Counted at botocore's level, on moto.

The waitlist gate's guarantee (issue 18) stays: a hold's write is conditioned on the registry's
stamp it read, so someone who starts to wait after that read is not passed over, however early
in the request the read was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.booking import closed_ranges
from chalicelib.storage import repository
from scripts.bench.capacity import partition_keys
from tests.booking.waitlist_world import Small, join_after_the_hold_asks, small_world
from tests.conftest import Citizen

LATER = "2099-01-01T08:00:00+01:00"  # a waitlist window that matches nothing: the registry exists
CLOSURES_INDEX = "gsi2:CLOSURES#UNFINISHED"


@pytest.fixture
def reads(dynamodb_calls: Counter[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, bool]]]:
    """Every partition key each DynamoDB request touched: (operation, key, consistent)."""
    from botocore.client import BaseClient

    seen: list[tuple[str, str, bool]] = []
    counting = BaseClient._make_api_call  # the dynamodb_calls counter, which calls botocore's own

    def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            consistent = bool(params.get("ConsistentRead")) or any(
                bool(r.get("ConsistentRead")) for r in params.get("RequestItems", {}).values()
            )
            seen.extend((operation, key, consistent) for key in partition_keys(operation, params))
        return counting(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    yield seen


def _count(reads: list[tuple[str, str, bool]], prefix: str, *, consistent: bool | None = None) -> int:
    return sum(
        1
        for operation, key, strong in reads
        if key.startswith(prefix) and operation != "TransactWriteItems" and (consistent is None or strong == consistent)
    )


def _lose_first_write(monkeypatch: pytest.MonkeyPatch, failed: str) -> list[str]:
    """The first hold transaction loses on `failed` (a crowd's race), the next ones are real."""
    real, lost = repository.take_hold, []

    def take_hold(*args: Any, **kwargs: Any) -> None:
        if not lost:
            lost.append(failed)
            raise repository.ConditionFailed([failed])
        real(*args, **kwargs)

    monkeypatch.setattr(repository, "take_hold", take_hold)
    return lost


@pytest.fixture
def waited(client, demo, staff_token, aws) -> Small:
    """A timebook whose waitlist registry has a stamp (someone waits for a later time)."""
    world = small_world(client, demo, staff_token, aws["queue_url"], slots=3, capacity=2)
    world.join(Citizen(4301), **{"from": LATER})
    return world


def test_a_hold_by_slot_reads_the_registry_and_the_closures_once_across_lost_races(
    waited: Small, reads, dynamodb_calls, monkeypatch
) -> None:
    slot_id = waited.slot_ids[0]
    assert waited.client.post("/holds", {"slot_id": slot_id}, token=Citizen(4302).token).status == 201  # warm
    closed_ranges.forget()  # the memo of running closures lapsed: read once for this hold
    lost = _lose_first_write(monkeypatch, "place")
    reads.clear()
    dynamodb_calls.clear()

    held = waited.client.post("/holds", {"slot_id": slot_id}, token=Citizen(4303).token)

    assert held.status == 201 and lost == ["place"], held
    assert _count(reads, f"WLTB#{waited.timebook_id}") == 1, reads
    assert _count(reads, CLOSURES_INDEX) == 1, reads
    assert _count(reads, "SLOT#", consistent=True) == 2  # each attempt reads the slot itself
    # the closures once, the waitlist's queue per attempt (who waits, and can they take a place now)
    assert dynamodb_calls == {"BatchGetItem": 2, "Query": 3, "TransactWriteItems": 1}


def test_a_hold_by_slot_reads_the_registry_again_when_someone_started_to_wait(
    waited: Small, reads, monkeypatch
) -> None:
    """A lost "waitlist" condition: the stamp changed, so the next attempt reads it again."""
    slot_id = waited.slot_ids[0]
    lost = _lose_first_write(monkeypatch, "waitlist")
    reads.clear()
    held = waited.client.post("/holds", {"slot_id": slot_id}, token=Citizen(4304).token)
    assert held.status == 201 and lost == ["waitlist"], held
    assert _count(reads, f"WLTB#{waited.timebook_id}") == 2


def test_a_first_available_hold_reads_registry_person_and_its_slot_once(client, demo, reads, dynamodb_calls) -> None:
    """The person and the gate in one read before discovery; the chosen slot only in discovery's
    consistent read of its candidates (before: read again with person and gate per attempt)."""
    body = {"timebook_id": demo.koronatest_id}
    assert client.post("/holds", body, token=Citizen(4311).token).status == 201  # warm
    closed_ranges.forget()
    reads.clear()
    dynamodb_calls.clear()

    held = client.post("/holds", body, token=Citizen(4312).token)

    assert held.status == 201, held
    assert _count(reads, f"WLTB#{demo.koronatest_id}") == 1, reads
    assert _count(reads, f"PT#{demo.koronatest_id}#") == 1, reads
    assert _count(reads, CLOSURES_INDEX) == 1, reads
    assert _count(reads, f"SLOT#{held.json['slot_id']}", consistent=True) == 1, reads
    assert "GetItem" not in dynamodb_calls and dynamodb_calls["TransactWriteItems"] == 1, dynamodb_calls


def test_a_first_available_hold_keeps_the_stamp_it_read_across_lost_races(waited: Small, reads, monkeypatch) -> None:
    lost = _lose_first_write(monkeypatch, "place")
    reads.clear()
    held = waited.client.post("/holds", {"timebook_id": waited.timebook_id}, token=Citizen(4321).token)
    assert held.status == 201 and lost == ["place"], held
    assert _count(reads, f"WLTB#{waited.timebook_id}") == 1, reads


@pytest.fixture
def no_offer_after_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.booking import lifecycle

    monkeypatch.setattr(lifecycle, "after_commit", lambda **_: None)


def test_someone_who_starts_waiting_after_first_availables_read_is_not_passed_over(
    client, demo, staff_token, aws, no_offer_after_commit, monkeypatch
) -> None:
    """As tests/booking/test_waitlist_pollers.py's hold by slot, for "first available", which reads
    the gate before discovery: a join before the write fails its condition, it looks again and
    leaves the place to them."""
    world = small_world(client, demo, staff_token, aws["queue_url"])
    holder, waiting, late, poller = Citizen(4331), Citizen(4332), Citizen(4333), Citizen(4334)
    booked = world.book(holder, slot_id=world.slot_ids[0])
    world.join(waiting, **{"from": LATER})  # the registry exists; nobody matches yet
    assert world.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token).status == 200
    calls = join_after_the_hold_asks(monkeypatch, lambda: world.join(late))
    refused = world.client.post("/holds", {"timebook_id": world.timebook_id}, token=poller.token)
    assert refused.status == 409, refused
    assert calls == [False, True]
    assert world.entry(late)["status"] == "offered"


# ---- a crowd in one process: one reads, the others answer from what was read ---------------------


def test_a_crowd_reads_the_running_closures_once_when_their_memo_lapses(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib import clock
    from chalicelib.storage import staffwork

    reading, release, calls = threading.Event(), threading.Event(), []

    def unfinished_closures(limit: int) -> list[Any]:
        calls.append(limit)
        if len(calls) == 2:  # the read after the memo lapsed stays in flight while the crowd asks
            reading.set()
            assert release.wait(30)
        return []

    monkeypatch.setattr(staffwork, "unfinished_closures", unfinished_closures)
    closed_ranges.forget()
    assert closed_ranges.running() == [] and len(calls) == 1
    clock.sleep(closed_ranges.MEMO_SECONDS + 1)  # the memo lapses (the test's clock)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(closed_ranges.running)
        assert reading.wait(30)
        crowd = [pool.submit(closed_ranges.running) for _ in range(8)]
        assert [f.result(timeout=30) for f in crowd] == [[]] * 8  # answered from the lapsed list
        release.set()
        assert first.result(timeout=30) == []
    assert len(calls) == 2
    closed_ranges.forget()  # a closure started here: the next caller reads, never the old list
    assert closed_ranges.running() == [] and len(calls) == 3


def test_a_crowd_with_no_cached_timebook_reads_it_once_and_staff_read_it_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hold reads its timebook through the cache: a crowd arriving before the first read has
    answered waits for it rather than each reading (chalicelib/memo.py); staff about to change it
    read it now."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.booking import common
    from chalicelib.storage import repository

    reading, release, calls = threading.Event(), threading.Event(), []

    def get_timebook(timebook_id: str) -> Any:
        calls.append(timebook_id)
        if len(calls) == 1:
            reading.set()
            assert release.wait(30)
        return f"timebook {len(calls)}"

    monkeypatch.setattr(repository, "get_timebook", get_timebook)
    common.forget_timebook("tbcrowd")
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(common.timebook, "tbcrowd")
        assert reading.wait(30)
        crowd = [pool.submit(common.timebook, "tbcrowd") for _ in range(8)]
        release.set()
        assert [f.result(timeout=30) for f in [first, *crowd]] == ["timebook 1"] * 9
    assert len(calls) == 1
    assert common.timebook("tbcrowd", fresh=True) == "timebook 2" and common.timebook("tbcrowd") == "timebook 2"
    common.forget_timebook("tbcrowd")


def test_when_the_sold_out_memo_lapses_one_request_looks_and_the_others_are_still_told() -> None:
    from chalicelib import clock
    from chalicelib.booking import holds
    from chalicelib.errors import Conflict

    key = ("tbsoldout", None, clock.local(clock.now()).date())
    holds._sold_out.put(key, True)
    try:
        with pytest.raises(Conflict):
            holds._look_again(key)  # remembered: nobody looks
        clock.sleep(holds.SOLD_OUT_MEMO_SECONDS + 0.1)
        assert holds._look_again(key) is True  # lapsed: this one looks
        with pytest.raises(Conflict):
            holds._look_again(key)  # meanwhile the others are told, without reading
        assert holds._look_again(("tbother", None, key[2])) is False  # never sold out: look, no memo
    finally:
        holds._sold_out.forget(key)


def test_first_available_remembers_briefly_the_months_without_slots(
    waited: Small, reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer free places than it chooses among: it looks months ahead. A month with no slots at
    all is queried once per EMPTY_MONTH_MEMO_SECONDS, not by every request; a schedule added in
    this process is found at once."""
    from datetime import date, timedelta

    from chalicelib import clock
    from chalicelib.booking import discovery

    body = {"timebook_id": waited.timebook_id}

    def months_queried() -> set[str]:
        return {key.rsplit("#", 1)[1] for op, key, _ in reads if op == "Query" and "#AV#" in key}

    assert waited.client.post("/holds", body, token=Citizen(4341).token).status == 201
    empty = months_queried() - {waited.day[:7]}
    assert empty, "looked past the day's month"
    reads.clear()
    assert waited.client.post("/holds", body, token=Citizen(4342).token).status == 201
    assert months_queried() & empty == set()  # remembered
    clock.sleep(discovery.EMPTY_MONTH_MEMO_SECONDS + 1)
    reads.clear()
    assert waited.client.post("/holds", body, token=Citizen(4343).token).status == 201
    assert months_queried() >= empty  # lapsed: read again

    later = max(date.fromisoformat(f"{m}-01") for m in empty) + timedelta(days=14)
    schedule = {
        "location_id": waited.location_id,
        "from": later.isoformat(),
        "to": later.isoformat(),
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": "08:15",
        "slot_minutes": 15,
        "capacity": 1,
    }
    added = waited.client.post(f"/admin/timebooks/{waited.timebook_id}/schedules", schedule, token=waited.staff)
    assert added.status == 201, added
    reads.clear()
    assert waited.client.post("/holds", body, token=Citizen(4344).token).status == 201
    assert later.isoformat()[:7] in months_queried()  # forgotten when the schedule was added


def test_a_first_available_hold_queries_the_months_summaries_once_across_lost_races(client, demo, monkeypatch) -> None:
    """Issue 20: an attempt after a lost race takes the summaries the request already read (only
    the stream's publisher changes them) and Queries only pages it has not read; it reads the
    slots themselves again."""
    body = {"timebook_id": demo.koronatest_id}
    assert client.post("/holds", body, token=Citizen(4331).token).status == 201  # warm: the empty months known
    real, asked = repository.query_summaries, []

    def query_summaries(timebook_id: str, month: str, **kwargs: Any) -> Any:
        asked.append(month)
        return real(timebook_id, month, **kwargs)

    monkeypatch.setattr(repository, "query_summaries", query_summaries)
    lost = _lose_first_write(monkeypatch, "place")
    held = client.post("/holds", body, token=Citizen(4332).token)
    assert held.status == 201 and lost == ["place"], held
    assert len(asked) == len(set(asked)) >= 1, asked  # before: each attempt Queried the month again


def test_a_first_available_hold_reads_one_batch_of_candidates_when_it_offers_a_place(client, demo, reads) -> None:
    """Issue 20: one consistent read of CANDIDATE_BATCH slots drawn from the group, not two (the
    second batch only widened the choice from 16 to 24 places, and was half the hottest slot's reads)."""
    from chalicelib.booking import discovery

    body = {"timebook_id": demo.koronatest_id}
    assert client.post("/holds", body, token=Citizen(4341).token).status == 201  # warm
    reads.clear()
    assert client.post("/holds", body, token=Citizen(4342).token).status == 201
    assert _count(reads, "SLOT#", consistent=True) == discovery.CANDIDATE_BATCH, reads
