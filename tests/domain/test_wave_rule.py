"""The wave rule with priority lists (domain/queue.py): a person may hold from the earliest of
their birth-date wave and the waves whose lists name them; someone in no wave once the last has
opened; a wave of a list only covers nobody by birth date. Lists key on the wave's stable id, so
a settings change that reorders, inserts or moves waves keeps each list with its wave."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.queue import (
    ListEntry,
    NotOpenYet,
    Wave,
    find_wave,
    keep_wave_ids,
    lifetime_moved,
    list_lifetime,
    listed_waves_removed,
    require_wave_open,
    wave_opens_at,
)
from chalicelib.errors import InvalidInput

EARLY, MIDDLE, LATE = (datetime(2030, 3, day, 8, tzinfo=UTC) for day in (1, 2, 3))
WAVES = (
    Wave(MIDDLE, date(1940, 1, 1), date(1949, 12, 31), "w0"),
    Wave(EARLY, None, None, "w1"),  # a priority list only
    Wave(LATE, date(1950, 1, 1), date(1959, 12, 31), "w2"),
)


@pytest.mark.parametrize(
    ("born", "listed", "opens"),
    [
        (date(1945, 6, 1), (), MIDDLE),
        (date(1945, 6, 1), (1,), EARLY),  # the list's wave opens first
        (date(1945, 6, 1), (2,), MIDDLE),  # the birth-date wave opens first
        (date(1955, 6, 1), (1, 2), EARLY),
        (date(1990, 6, 1), (), LATE),  # in no wave: when the last has opened
        (date(1990, 6, 1), (0,), MIDDLE),
        (date(1990, 6, 1), (7, -1), LATE),  # a list of a wave since removed counts for nothing
    ],
)
def test_the_earliest_of_a_persons_waves(born: date, listed: tuple[int, ...], opens: datetime) -> None:
    assert wave_opens_at(WAVES, born, [f"w{n}" for n in listed]) == opens


def test_before_the_wave_names_the_time_and_no_waves_is_always_open() -> None:
    with pytest.raises(NotOpenYet) as refused:
        require_wave_open(WAVES, date(1990, 6, 1), MIDDLE, listed=())
    assert refused.value.opens_at == LATE
    require_wave_open(WAVES, date(1990, 6, 1), EARLY, listed=("w1",))
    assert wave_opens_at((), date(1990, 6, 1), ("w0",)) is None


def test_a_list_follows_its_wave_through_a_reorder_and_a_new_time() -> None:
    later = datetime(2030, 3, 9, 8, tzinfo=UTC)
    # Staff put a new wave first and move the listed one later: the list goes with its id.
    given = (Wave(EARLY, date(1930, 1, 1), date(1939, 12, 31)), WAVES[2], Wave(later, None, None, "w1"), WAVES[0])
    after = keep_wave_ids(given, WAVES)
    assert [w.id for w in after[1:]] == ["w2", "w1", "w0"] and after[0].id not in {"", "w0", "w1", "w2"}
    assert wave_opens_at(after, date(1990, 6, 1), ["w1"]) == later  # not the new first wave's time
    assert listed_waves_removed(WAVES, after, ["w1"]) == []
    assert listed_waves_removed(WAVES, after[:2], ["w1", "w0"]) == [0, 1]  # indexes as read
    assert (find_wave(after, "2"), find_wave(after, "w1"), find_wave(after, "4"), find_wave(after, "wx")) == (
        2,
        2,
        None,
        None,
    )


def test_a_path_names_a_wave_by_its_id_before_its_index() -> None:
    # Waves stored before ids have their old index as id: "000" is that wave wherever it now stands.
    legacy = (Wave(LATE, None, None, "001"), Wave(EARLY, None, None, "000"))
    assert (find_wave(legacy, "000"), find_wave(legacy, "0"), find_wave(legacy, "1"), find_wave(legacy, "002")) == (
        1,
        0,
        1,
        None,
    )


def test_an_id_the_timebook_does_not_have_is_named() -> None:
    with pytest.raises(InvalidInput) as refused:
        keep_wave_ids((Wave(EARLY, None, None, "w1"), Wave(LATE, None, None, "nope"), WAVES[1]), WAVES)
    assert refused.value.fields == [("waves.1.id", "not a wave of this timebook"), ("waves.2.id", "given twice")]


def test_a_lists_lifetime_is_the_last_wave_as_it_is_now_plus_the_retention_days() -> None:
    from chalicelib.domain.forms import Form
    from chalicelib.domain.model import HealthContactRef, Resource, Timebook

    assert list_lifetime(WAVES, 90) == LATE + timedelta(days=90)
    assert list_lifetime((), 90) is None
    book = Timebook(
        *("tb", "Lab", "lab", ""),
        *(HealthContactRef("hc", "Legekontor"), Resource("Blodprøve"), 15, False, 10, 24, None, 30, Form()),
        retention_days=90,
        waves=WAVES,
    )
    later = replace(book, waves=(*WAVES[:2], replace(WAVES[2], opens_at=LATE + timedelta(days=1))))
    assert lifetime_moved(book, later) and lifetime_moved(later, book)  # later or earlier
    assert lifetime_moved(book, replace(book, retention_days=30))
    reordered = replace(book, waves=(WAVES[2], WAVES[0], replace(WAVES[1], opens_at=MIDDLE)))
    assert not lifetime_moved(book, reordered)  # the last wave opens when it did
    assert not lifetime_moved(replace(book, waves=()), book)  # no wave before, no list


def test_an_entry_takes_a_stamp_only_from_newer_settings_and_while_it_lived() -> None:
    entry = ListEntry("aa", "w1", ttl=1000, stamped=3)
    assert entry.needs_stamp(2000, 4, asked_at=900)
    assert not entry.needs_stamp(2000, 3, asked_at=900)  # the same settings: stamped already
    assert not entry.needs_stamp(2000, 2, asked_at=900)  # older settings never win
    assert not entry.needs_stamp(1000, 4, asked_at=900)  # the same lifetime: nothing to write
    assert not entry.needs_stamp(2000, 4, asked_at=1000)  # gone before the change asked: not brought back
    assert ListEntry("aa", "w1").needs_stamp(2000, 0, asked_at=900)  # stored before stamps
    # A dropped wave's list (w1 no longer among the waves): shortened, never kept longer.
    assert not entry.needs_stamp(2000, 4, asked_at=900, waves={"w2"})
    assert entry.needs_stamp(950, 4, asked_at=900, waves={"w2"})
    assert entry.needs_stamp(2000, 4, asked_at=900, waves={"w1", "w2"})
