"""Opening hours become the right wall-clock slots in Europe/Oslo, including DST Sundays."""

from datetime import date, datetime, time, timedelta

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


def test_spring_forward_gap_has_no_slots():
    day = date(2024, 3, 31)
    slots = list(slot_times(hours(day, day, time(1), time(4), minutes=30)))
    starts = [s.start.strftime("%H:%M") for s in slots]
    assert starts == ["01:00", "03:00", "03:30"]  # 01:30 would end in the gap; 02:xx does not exist
    for s in slots:
        assert (s.end - s.start) == timedelta(minutes=30)


def test_fall_back_sunday_keeps_local_opening_hours():
    # Last Sunday of October 2024: 03:00 -> 02:00.
    day = date(2024, 10, 27)
    slots = list(slot_times(hours(day, day, time(8), time(13))))
    assert len(slots) == 20
    assert slots[0].start.isoformat() == "2024-10-27T08:00:00+01:00"


def test_fall_back_night_makes_each_wall_clock_slot_once():
    day = date(2024, 10, 27)
    slots = list(slot_times(hours(day, day, time(1), time(4), minutes=60)))
    assert [s.start.strftime("%H:%M") for s in slots] == ["01:00", "02:00", "03:00"]
    assert len({slot_ref("tb1", "loc1", s.start).slot_id for s in slots}) == 3


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
