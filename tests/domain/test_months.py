"""The month names "first available", the waiting room's step and the publisher look at."""

from __future__ import annotations

from datetime import date

from chalicelib.domain.availability import months_from


def test_months_run_on_over_the_new_year() -> None:
    assert months_from(date(2026, 11, 30), 3) == ["2026-11", "2026-12", "2027-01"]
    assert months_from(date(2026, 12, 1), 2) == ["2026-12", "2027-01"]
    assert months_from(date(2027, 1, 15), 0) == []
