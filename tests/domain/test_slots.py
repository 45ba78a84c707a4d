"""Opening hours become the right wall-clock slots in Europe/Oslo, including DST Sundays."""

import itertools
from datetime import UTC, date, datetime, time, timedelta

from chalicelib.clock import OSLO
from chalicelib.domain.slots import OpeningHours, parse_slot_id, slot_ref, slot_times


def hours(day_from: date, day_to: date, start: time, end: time, minutes: int = 15, weekdays=range(1, 8)):
    return OpeningHours("loc1", day_from, day_to, frozenset(weekdays), start, end, minutes, 2)


def test_guide_day_has_twenty_quarter_hours_from_eight_to_one():
    slots = list(slot_times(hours(date(2024, 3, 1), date(2024, 3, 1), time(8), time(13))))
    assert len(slots) == 20
    assert slots[0].start == datetime(2024, 3, 1, 8, 0, tzinfo=OSLO)
    assert slots[0].start.isoformat() == "2024-03-01T08:00:00+01:00"
    assert slots[-1].end.isoformat() == "2024-03-01T13:00:00+01:00"


def test_weekdays_only():
    # 2024-03-04 is a Monday; a week of Monday-Friday gives five days
    slots = list(slot_times(hours(date(2024, 3, 4), date(2024, 3, 10), time(8), time(9), weekdays={1, 2, 3, 4, 5})))
    assert sorted({s.local_date.isoweekday() for s in slots}) == [1, 2, 3, 4, 5]
    assert len(slots) == 5 * 4


def test_spring_forward_sunday_keeps_local_opening_hours():
    # Last Sunday of March 2024: 02:00 -> 03:00. Daytime slots keep their wall-clock times.
    day = date(2024, 3, 31)
    slots = list(slot_times(hours(day, day, time(8), time(13))))
    assert len(slots) == 20
    assert slots[0].start.isoformat() == "2024-03-31T08:00:00+02:00"
    assert slots[0].start.utcoffset() == timedelta(hours=2)


def real(slot) -> timedelta:  # type: ignore[no-untyped-def]
    """How long a slot really lasts (aware datetimes of one zone subtract as wall-clock times)."""
    return slot.end.astimezone(UTC) - slot.start.astimezone(UTC)


def test_spring_forward_night_has_the_real_wall_clock_slots():
    day = date(2024, 3, 31)
    slots = list(slot_times(hours(day, day, time(1), time(4), minutes=30)))
    starts = [s.start.strftime("%H:%M") for s in slots]
    assert starts == ["01:00", "01:30", "03:00", "03:30"]  # 01:30-03:00 is 30 minutes; 02:xx does not exist
    for s in slots:
        assert real(s) == timedelta(minutes=30)
    quarters = list(slot_times(hours(day, day, time(1), time(4), minutes=15)))
    assert len(quarters) == 8  # 01:00+01:00 to 04:00+02:00 is two hours: none missing
    assert all(b.start == a.end for a, b in itertools.pairwise(quarters))


def test_fall_back_sunday_keeps_local_opening_hours():
    # Last Sunday of October 2024: 03:00 -> 02:00.
    day = date(2024, 10, 27)
    slots = list(slot_times(hours(day, day, time(8), time(13))))
    assert len(slots) == 20
    assert slots[0].start.isoformat() == "2024-10-27T08:00:00+01:00"


def test_fall_back_night_has_the_repeated_hour_and_no_long_slot():
    day = date(2024, 10, 27)
    slots = list(slot_times(hours(day, day, time(1), time(4), minutes=60)))
    assert [s.start.isoformat()[11:] for s in slots] == [
        "01:00:00+02:00",
        "02:00:00+02:00",
        "02:00:00+01:00",
        "03:00:00+01:00",
    ]
    assert all(real(s) == timedelta(hours=1) for s in slots)
    ids = [slot_ref("tb1", "loc1", s.start).slot_id for s in slots]
    assert len(set(ids)) == 4
    for slot, slot_id in zip(slots, ids, strict=True):
        assert parse_slot_id(slot_id).start == slot.start  # the id names the real moment
    quarters = list(slot_times(hours(day, day, time(1), time(4), minutes=15)))
    assert len(quarters) == 16 and all(real(q) == timedelta(minutes=15) for q in quarters)


def test_dst_sundays_of_2025_and_2026():
    for day in (date(2025, 3, 30), date(2025, 10, 26), date(2026, 3, 29), date(2026, 10, 25)):
        slots = list(slot_times(hours(day, day, time(8), time(13))))
        assert len(slots) == 20
        assert all(s.start.hour >= 8 and s.end.hour <= 13 for s in slots)


def test_slot_id_round_trips_and_rejects_garbage():
    start = datetime(2024, 3, 1, 10, 0, tzinfo=OSLO)
    ref = slot_ref("tbabc", "locdef", start)
    parsed = parse_slot_id(ref.slot_id)
    assert parsed == ref
    for bad in ("", "x", "tb_loc_2024", "tb_loc_202413011000", "TB_loc_202403011000", "a_b_c_202403011000"):
        assert parse_slot_id(bad) is None
