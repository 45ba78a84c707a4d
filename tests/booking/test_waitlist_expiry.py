"""Issue 18: waitlist entries expire by themselves (domain/waitlist.py: ENTRY_DAYS, KEEP_DAYS).

An entry whose window has passed, or that has waited ENTRY_DAYS without a window end, is
`expired` at once (no sweep needed), no longer keeps its person from joining again, and KEEP_DAYS
after its end it is gone from every read (its item carries that `ttl`; DynamoDB deletes days late).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import clock
from chalicelib.domain.waitlist import ENTRY_DAYS, KEEP_DAYS
from tests.booking.waitlist_world import Small, small_world
from tests.conftest import Citizen


@pytest.fixture
def small(client, demo, staff_token, aws) -> Small:
    return small_world(client, demo, staff_token, aws["queue_url"])


def test_an_entry_whose_window_passed_expires_and_is_gone_after_keep_days(small: Small) -> None:
    holder, citizen = Citizen(4301), Citizen(4302)
    small.book(holder, slot_id=small.slot_ids[0])
    to = clock.local(clock.now() + timedelta(hours=2)).isoformat(timespec="seconds")
    entry = small.join(citizen, to=to)
    assert entry["status"] == "waiting"
    clock.advance(timedelta(hours=2, seconds=1))
    assert small.entry(citizen)["status"] == "expired"  # at once, nothing written yet
    again = small.client.post("/waitlist", {"timebook_id": small.timebook_id}, token=citizen.token)
    assert again.status == 201, again  # an ended entry counts against nobody
    clock.advance(timedelta(days=KEEP_DAYS))
    assert [e["id"] for e in small.entries(citizen)] == [again.json["id"]]  # the old one is gone
    gone = small.client.delete(f"/waitlist/{entry['id']}", token=citizen.token)
    assert gone.status == 404, gone


def test_an_open_entry_waits_at_most_entry_days(small: Small) -> None:
    holder, citizen = Citizen(4311), Citizen(4312)
    small.book(holder, slot_id=small.slot_ids[0])
    assert small.join(citizen)["status"] == "waiting"
    clock.advance(timedelta(days=ENTRY_DAYS - 1))
    assert small.entry(citizen)["status"] == "waiting"
    clock.advance(timedelta(days=1, seconds=1))
    assert small.entry(citizen)["status"] == "expired"
    staff_sees = small.client.get(f"/admin/timebooks/{small.timebook_id}/waitlist", token=small.staff)
    assert staff_sees.status == 200 and staff_sees.json["items"] == [], staff_sees
    assert small.client.post("/waitlist", {"timebook_id": small.timebook_id}, token=citizen.token).status == 201
