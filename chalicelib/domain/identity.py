"""Validation of citizen identifiers: national identity numbers and phone numbers.

Pure domain code (no AWS imports). The third-party validators are imported lazily
inside the functions because ``phonenumbers`` and ``stdnum`` add tens of
milliseconds to a Lambda cold start, and most requests never need them.
"""

from __future__ import annotations

__all__ = ["InvalidIdentity", "birth_date", "normalize_phone", "validate_pid"]


class InvalidIdentity(ValueError):
    """An identifier supplied by a user or a token is not acceptable.

    Messages are short, English, and never echo the rejected value, so they are
    safe to return to clients and to write to logs.
    """


def validate_pid(value: str) -> str:
    """Return the compact 11-digit form of a fødselsnummer or D-nummer.

    Why: every booking is keyed on the citizen's national identity number, so a
    typo must be caught before it reaches storage. python-stdnum's
    ``no.fodselsnummer`` checks length, digits, both mod-11 check digits and the
    encoded birth date (it already understands D-numbers, day + 40). It also
    accepts H-numbers (month + 40), which this portal does not use, so those are
    rejected here explicitly. FH-numbers (first digit 8 or 9) are rejected by
    stdnum because they carry no birth date.
    """
    from stdnum import exceptions as stdnum_exceptions
    from stdnum.no import fodselsnummer

    if not isinstance(value, str):
        raise InvalidIdentity("National identity number must be a string.")
    try:
        number = fodselsnummer.validate(value)
    except stdnum_exceptions.InvalidLength:
        raise InvalidIdentity("National identity number must be 11 digits.") from None
    except stdnum_exceptions.InvalidFormat:
        raise InvalidIdentity("National identity number must contain only digits.") from None
    except stdnum_exceptions.InvalidChecksum:
        raise InvalidIdentity("National identity number has invalid check digits.") from None
    except stdnum_exceptions.ValidationError:
        # InvalidComponent: impossible date, unknown century, future birth date, FH-number.
        raise InvalidIdentity("National identity number has an invalid birth date.") from None
    if int(number[2:4]) > 40:
        raise InvalidIdentity("H-numbers are not accepted.")
    return number


def birth_date(pid: str) -> str:
    """The birth date a fødselsnummer or D-nummer carries (YYYY-MM-DD): how staff at the station tell
    two people of one name apart without reading the whole number aloud."""
    from stdnum.no import fodselsnummer

    from chalicelib.domain.retention import ERASED

    if pid == ERASED:  # past retention: the number is gone, and with it the birth date
        return ""
    return fodselsnummer.get_birth_date(pid).isoformat()


def normalize_phone(value: str) -> str:
    """Return a phone number in E.164 form, e.g. ``"+4791234567"``.

    Why: SMS reminders and duplicate detection need one canonical spelling of a
    number regardless of how the citizen typed it ("912 34 567", "0047...").
    Numbers without a country code are read as Norwegian. Foreign numbers are
    accepted as long as libphonenumber considers them valid.
    """
    import phonenumbers

    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentity("Phone number is required.")
    try:
        parsed = phonenumbers.parse(value, "NO")
    except phonenumbers.NumberParseException:
        raise InvalidIdentity("Phone number could not be understood.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentity("Phone number is not valid.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def masked(pid: str) -> str:
    """An identity number as staff lists show it: the birth date digits, never the whole number
    (issue 23). Anything that is not an 11-digit number (an erased "slettet") is shown as it is."""
    if len(pid) == 11 and pid.isdigit():
        return f"{pid[:6]} •••••"
    return pid
