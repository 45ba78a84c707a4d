"""Issue 18: the day view and the staff overview sorted the autumn night's two 02:00 by text."""

from __future__ import annotations

from chalicelib.domain.ordering import by_instant


def test_the_autumn_nights_two_0200_sort_by_instant() -> None:
    first, second, later = "2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+02:00"
    assert sorted([second, later, first]) == [second, first, later]  # text: wrong
    assert sorted([second, later, first], key=by_instant) == [first, later, second]
