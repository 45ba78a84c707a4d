"""Deterministic synthetic identifiers for tests.

Why: tests need many distinct identity numbers that pass the same validation as
production input, without hard-coding anybody's real number. The same ``n``
always gives the same value, so failures are reproducible.

Caveat: any well-formed fødselsnummer may coincide with a real person's number;
these are only ever used as opaque test data and never paired with real names.
"""

from __future__ import annotations

import datetime

from stdnum.no import fodselsnummer

__all__ = ["make_phone", "make_pid"]

# Birth dates 1940-01-01 .. 1999-12-31 with individual numbers 000-499, which
# the fødselsnummer rules place unambiguously in the 1900s.
_FIRST_DATE = datetime.date(1940, 1, 1)
_DAYS = (datetime.date(2000, 1, 1) - _FIRST_DATE).days  # 21915
_DATE_STRIDE = 7919  # prime, coprime with _DAYS: spreads consecutive n over the range
_INDIVIDUALS = 500


def _check_digits(base9: str) -> str | None:
    """Return the two check digits for nine leading digits, or None if impossible.

    A mod-11 remainder of 10 cannot be written as one digit; such individual
    numbers are never issued, so the caller must skip them.
    """
    k1 = fodselsnummer.calc_check_digit1(base9)
    if len(k1) != 1:
        return None
    k2 = fodselsnummer.calc_check_digit2(base9 + k1)
    if len(k2) != 1:
        return None
    return k1 + k2


def make_pid(n: int = 0, d_number: bool = False) -> str:
    """Return the n-th synthetic valid fødselsnummer (or D-nummer, day + 40).

    ``n`` selects a birth date (spread over 1940-1999) and, for every further
    lap through the dates, the next usable individual number on that date, so
    distinct ``n`` give distinct numbers (several million are available).
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    date_index = (n * _DATE_STRIDE) % _DAYS
    wanted = n // _DAYS
    birth = _FIRST_DATE + datetime.timedelta(days=date_index)
    day = birth.day + 40 if d_number else birth.day
    prefix = f"{day:02d}{birth.month:02d}{birth.year % 100:02d}"
    offset = date_index % _INDIVIDUALS  # vary individual numbers between dates
    seen = 0
    for step in range(_INDIVIDUALS):
        base9 = f"{prefix}{(offset + step) % _INDIVIDUALS:03d}"
        check = _check_digits(base9)
        if check is None:
            continue
        if seen == wanted:
            return base9 + check
        seen += 1
    raise ValueError("n is too large for the synthetic identity range")


def make_phone(n: int = 0) -> str:
    """Return the n-th synthetic Norwegian mobile number, formatted "+47 9xx xx xxx"."""
    if not 0 <= n < 10_000_000:
        raise ValueError("n must be in 0..9_999_999")
    digits = f"{90_000_000 + n}"
    return f"+47 {digits[:3]} {digits[3:5]} {digits[5:]}"
