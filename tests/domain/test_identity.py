"""Tests for national identity number and phone number validation."""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.no import fodselsnummer

from chalicelib.domain.identity import InvalidIdentity, normalize_phone, validate_pid
from tests.factories import make_phone, make_pid

VALID_FNR = "15108695088"  # example from python-stdnum's documentation
VALID_DNR = "55108695071"  # same birth date as a D-nummer (day + 40), own check digits


def _with_check_digits(base9: str) -> str:
    """Complete nine digits with correct check digits (test helper)."""
    k1 = fodselsnummer.calc_check_digit1(base9)
    k2 = fodselsnummer.calc_check_digit2(base9 + k1)
    assert len(k1) == len(k2) == 1, "pick another individual number"
    return base9 + k1 + k2


def test_literal_dnr_has_correct_check_digits() -> None:
    assert _with_check_digits(VALID_DNR[:9]) == VALID_DNR


class TestValidatePid:
    def test_valid_fodselsnummer(self) -> None:
        assert validate_pid(VALID_FNR) == VALID_FNR

    def test_valid_d_nummer(self) -> None:
        assert validate_pid(VALID_DNR) == VALID_DNR

    @pytest.mark.parametrize("spelling", ["151086 95088", "151086-95088", " 15108695088 "])
    def test_returns_compact_form(self, spelling: str) -> None:
        assert validate_pid(spelling) == VALID_FNR

    @pytest.mark.parametrize("value", ["15108695077", "15108695089", "55108695088"])
    def test_bad_check_digits(self, value: str) -> None:
        with pytest.raises(InvalidIdentity, match="check digits"):
            validate_pid(value)

    @pytest.mark.parametrize("value", ["", "1510869508", "151086950881", "1"])
    def test_wrong_length(self, value: str) -> None:
        with pytest.raises(InvalidIdentity, match="11 digits"):
            validate_pid(value)

    @pytest.mark.parametrize("value", ["1510869508a", "abcdefghijk", "15108695O88"])
    def test_letters(self, value: str) -> None:
        with pytest.raises(InvalidIdentity, match="only digits"):
            validate_pid(value)

    def test_impossible_date(self) -> None:
        with pytest.raises(InvalidIdentity, match="birth date"):
            validate_pid(_with_check_digits("310286950"))  # 31 February

    def test_future_birth_date(self) -> None:
        next_year = (datetime.date.today().year + 1) % 100
        assert next_year < 40  # individual numbers 500-999 then mean the 2000s
        with pytest.raises(InvalidIdentity, match="birth date"):
            validate_pid(_with_check_digits(f"0101{next_year:02d}500"))

    def test_h_number_rejected(self) -> None:
        with pytest.raises(InvalidIdentity, match="H-number"):
            validate_pid(_with_check_digits("155086950"))  # month + 40

    def test_fh_number_rejected(self) -> None:
        with pytest.raises(InvalidIdentity):
            validate_pid(_with_check_digits("815086950"))  # first digit 8

    def test_not_a_string(self) -> None:
        with pytest.raises(InvalidIdentity):
            validate_pid(15108695088)  # type: ignore[arg-type]

    def test_message_does_not_echo_value(self) -> None:
        with pytest.raises(InvalidIdentity) as info:
            validate_pid("15108695077")
        assert "1510869507" not in str(info.value)

    def test_is_a_value_error(self) -> None:
        assert issubclass(InvalidIdentity, ValueError)

    @given(st.text(max_size=30))
    def test_arbitrary_text_only_raises_invalid_identity(self, value: str) -> None:
        try:
            result = validate_pid(value)
        except InvalidIdentity:
            return
        assert re.fullmatch(r"[0-9]{11}", result)


class TestNormalizePhone:
    @pytest.mark.parametrize(
        "value",
        ["91234567", "+47 912 34 567", "004791234567", "912 34 567", "+4791234567"],
    )
    def test_norwegian_variants(self, value: str) -> None:
        assert normalize_phone(value) == "+4791234567"

    def test_foreign_number(self) -> None:
        assert normalize_phone("+46 70 123 45 67") == "+46701234567"

    @pytest.mark.parametrize(
        "value",
        ["", "   ", "abc", "12345678", "9123456", "+4712345", "912345678901234", "+999 1234"],
    )
    def test_invalid_numbers_rejected(self, value: str) -> None:
        with pytest.raises(InvalidIdentity):
            normalize_phone(value)

    def test_not_a_string(self) -> None:
        with pytest.raises(InvalidIdentity):
            normalize_phone(91234567)  # type: ignore[arg-type]


class TestFactories:
    def test_make_pid_is_deterministic(self) -> None:
        assert make_pid(7) == make_pid(7)
        assert make_pid(7, d_number=True) == make_pid(7, d_number=True)

    @pytest.mark.parametrize("d_number", [False, True])
    def test_make_pid_5000_distinct_valid(self, d_number: bool) -> None:
        pids = [make_pid(n, d_number=d_number) for n in range(5000)]
        assert len(set(pids)) == 5000
        for pid in pids:
            assert validate_pid(pid) == pid
            assert (int(pid[:2]) > 40) is d_number

    def test_make_pid_beyond_one_lap_of_dates(self) -> None:
        pids = {make_pid(n) for n in range(21_900, 22_100)}
        assert len(pids) == 200
        assert all(validate_pid(pid) for pid in pids)

    def test_fodselsnummer_and_d_nummer_do_not_collide(self) -> None:
        plain = {make_pid(n) for n in range(500)}
        d_numbers = {make_pid(n, d_number=True) for n in range(500)}
        assert not plain & d_numbers

    def test_make_pid_rejects_negative(self) -> None:
        with pytest.raises(ValueError):
            make_pid(-1)

    def test_make_phone_5000_distinct_valid(self) -> None:
        phones = [make_phone(n) for n in range(5000)]
        assert len(set(phones)) == 5000
        for phone in phones:
            assert re.fullmatch(r"\+47 9\d\d \d\d \d\d\d", phone)
            assert normalize_phone(phone) == "+47" + phone[4:].replace(" ", "")
