"""The staff's index of a timebook's appointments (gsi2) is spread over shards so that a surge on
one timebook-day writes no partition hot (docs/capacity.md); reading it merges the shards.

Invariant: whatever the page size and filter, paging through the merged list gives every
matching appointment exactly once, in order of start, and a day gives that day's only."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.paging import PageRequest, Position
from chalicelib.storage import keys, repository
from chalicelib.storage.models import AppointmentItem
from tests.conftest import moto_aws

DAY = date(2026, 3, 2)


def _appointment(n: int, day_offset: int, minute: int, status: str) -> AppointmentItem:
    start = f"{DAY + timedelta(days=day_offset)}T{8 + minute // 60:02d}:{minute % 60:02d}:00+01:00"
    item = AppointmentItem(
        id=f"ap{n:04d}",
        status=status,
        slot_id="unused",
        place=0,
        timebook={"id": "tb1", "name": "Koronatest", "type": "koronatest"},
        health_contact={"id": "hc1", "name": "Legevakt", "her_id": "1234"},
        location={"id": "loc1", "name": "Stasjon", "address": "Gaten 1", "directions": ""},
        start=start,
        end=start,
        duration_minutes=5,
        for_pid="x",
        booked_by="x",
        phone="+4791234567",
        created_at=start,
        updated_at=start,
    )
    repository._prepare_appointment(item)
    item.save()
    return item


def _all_pages(limit: int, day: date | None, status: str | None) -> list[str]:
    given_ids: list[str] = []
    page = PageRequest(limit=limit)
    for _ in range(500):
        items, position = repository.appointments_of_timebook_page("tb1", page, day=day, status=status)
        assert len(items) <= limit
        given_ids += [a.id for a in items]
        if position is None:
            return given_ids
        page = PageRequest(limit=limit, start=Position(position.person, position.after))
    raise AssertionError("paging did not end")


specs = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 300), st.sampled_from(["booked", "requested", "cancelled"])),
    max_size=60,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=specs, limit=st.integers(1, 4), use_day=st.booleans(), status=st.sampled_from([None, "booked"]))
def test_paging_the_merged_shards_gives_each_appointment_once_in_order(
    specs: list[tuple[int, int, str]], limit: int, use_day: bool, status: str | None
) -> None:
    with moto_aws():
        made = [_appointment(n, *spec) for n, spec in enumerate(specs)]
        day = DAY + timedelta(days=1) if use_day else None
        wanted = [a for a in made if status is None or a.status == status]
        expected = sorted(
            (a for a in wanted if day is None or a.start.startswith(str(day))), key=lambda a: (a.start, a.id)
        )
        paged = _all_pages(limit, day, status)
        assert paged == [a.id for a in expected]
        unpaged = repository.appointments_of_timebook("tb1", day=day, status=status)
        assert [a.id for a in unpaged] == [a.id for a in expected]


def test_a_timebooks_appointments_spread_over_all_shards() -> None:
    """200 bookings of one timebook-day: no shard takes more than a fair share (+ slack)."""
    shards = Counter(keys.appointment_shard(f"ap{n:05d}") for n in range(2000))
    assert set(shards) == set(range(keys.APPOINTMENT_SHARDS))
    assert max(shards.values()) < 2000 / keys.APPOINTMENT_SHARDS * 1.25
