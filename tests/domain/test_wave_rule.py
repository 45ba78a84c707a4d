"""The wave rule with priority lists (domain/queue.py): a person may hold from the earliest of
their birth-date wave and the waves whose lists name them; someone in no wave once the last has
opened; a wave of a list only covers nobody by birth date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.queue import NotOpenYet, Wave, require_wave_open, wave_opens_at

EARLY, MIDDLE, LATE = (datetime(2030, 3, day, 8, tzinfo=UTC) for day in (1, 2, 3))
WAVES = (
    Wave(MIDDLE, date(1940, 1, 1), date(1949, 12, 31)),
    Wave(EARLY, None, None),  # a priority list only
    Wave(LATE, date(1950, 1, 1), date(1959, 12, 31)),
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
    assert wave_opens_at(WAVES, born, listed) == opens


def test_before_the_wave_names_the_time_and_no_waves_is_always_open() -> None:
    with pytest.raises(NotOpenYet) as refused:
        require_wave_open(WAVES, date(1990, 6, 1), MIDDLE, listed=())
    assert refused.value.opens_at == LATE
    require_wave_open(WAVES, date(1990, 6, 1), EARLY, listed=(1,))
    assert wave_opens_at((), date(1990, 6, 1), (0,)) is None
