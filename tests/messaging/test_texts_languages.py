"""Inbox texts and the .ics in the person's language: every kind in bokmål, nynorsk and English,
from one catalogue per language (chalicelib/i18n/); a missing key fails; nynorsk is not bokmål."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib import i18n
from chalicelib.booking.ics import appointment_ics
from chalicelib.domain.forms import Answer
from chalicelib.domain.model import Appointment, HealthContactRef, Location, TimebookRef
from chalicelib.messaging.texts import KINDS, format_time, inbox_text
from tests.messaging.conftest import PHONE, PID

pytestmark = pytest.mark.fast

LANGUAGES = i18n.LANGUAGES


def payload(language: str | None, **extra: str) -> dict[str, Any]:
    found = {
        "for_pid": PID,
        "timebook_name": "Koronatest",
        "health_contact_name": "Pcr Covid-19 DDFL",
        "start": "2022-10-05T13:30:00+02:00",
        "end": "2022-10-06T08:00:00+02:00",
        "location_name": "Korona teststasjon A",
        "location_address": "Gaten 1, 0271 Oslo",
        "old_start": "2022-10-04T09:00:00+02:00",
        "expires_at": "2022-10-04T09:30:00+02:00",
        "reason": "Vannlekkasje",
        "status": "requested",
        **extra,
    }
    if language is not None:
        found["language"] = language
    return found


# (kind, extra payload): every text there is, the waiting person's closure note too.
CASES = [(kind, {}) for kind in KINDS] + [("closed", {"waitlist": "yes"})]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("kind", "extra"), CASES)
def test_every_kind_in_every_language(kind: str, extra: dict[str, str], language: str) -> None:
    title, body = inbox_text(kind, payload(language, **extra))
    assert title.strip() and body.strip()
    assert "{" not in title + body and "}" not in title + body  # every placeholder filled in
    assert format_time("2022-10-05T13:30:00+02:00", language) in body
    if language != "nb":
        assert (title, body) != inbox_text(kind, payload("nb", **extra)), "the same words as bokmål"
    for secret in (PID, PHONE, PHONE.replace(" ", "")):
        assert secret not in title + body


@pytest.mark.parametrize(("kind", "extra"), CASES)
def test_no_language_or_an_unknown_one_is_bokmal(kind: str, extra: dict[str, str]) -> None:
    """Messages queued before languages existed, and anything odd, read as bokmål."""
    expected = inbox_text(kind, payload("nb", **extra))
    assert inbox_text(kind, payload(None, **extra)) == expected
    assert inbox_text(kind, payload("de", **extra)) == expected
    assert inbox_text(kind, {**payload("nb", **extra), "language": 7}) == expected


def test_nynorsk_is_not_bokmal() -> None:
    """Spot checks of words that differ: stadfesta/bekreftet, berre/kun, frå/fra, ventelista/ventelisten."""
    title, body = inbox_text("confirmed", payload("nn"))
    assert title == "Timen er stadfesta" and "Timereservasjonen din er stadfesta." in body
    assert "Oppmøtestad: Korona teststasjon A" in body and "bekreftet" not in body
    _, requested = inbox_text("requested", payload("nn"))
    assert "berre ein førespurnad" in requested and "ikkje" in requested
    assert "kun en forespørsel" not in requested
    title, offer = inbox_text("offer", payload("nn", waitlist="yes"))
    assert title == "Ledig time til deg frå ventelista" and "innan 4. okt. 2022, kl. 09:30" in offer
    title, reminder = inbox_text("reminder", payload("nn"))
    assert "i morgon" in title and "Hugs" in reminder
    _, closed = inbox_text("closed", payload("nn", waitlist="yes"))
    assert "frå 5. okt. 2022, kl. 13:30" in closed and "framleis på ventelista" in closed
    _, reason = inbox_text("rejected", payload("nn"))
    assert "Grunngiving: Vannlekkasje" in reason


def test_english_words_and_times() -> None:
    title, body = inbox_text("rescheduled", payload("en"))
    assert title == "Your appointment has moved"
    assert "The appointment has moved to 5 Oct 2022, 13:30." in body
    assert "Previous time: 4 Oct 2022, 09:00." in body
    assert "5 Oct 2022, 13:30: Appointment for koronatest with Pcr Covid-19 DDFL" in body
    assert "Where to go: Korona teststasjon A, Gaten 1, 0271 Oslo" in body
    assert format_time("2024-03-31T01:30:00+00:00", "en") == "31 Mar 2024, 03:30"  # Oslo, summer time


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nb", "søndag 27. okt. 2024, kl. 02:30"),
        ("nn", "sundag 27. okt. 2024, kl. 02:30"),
        ("en", "Sunday 27 Oct 2024, 02:30"),
    ],
)
def test_day_names_per_language(language: str, expected: str) -> None:
    from datetime import datetime

    moment = datetime.fromisoformat("2024-10-27T01:30:00+00:00")  # the second 02:30 in Oslo (winter time)
    assert i18n.format_day_and_time(moment, language) == expected
    weekdays = {i18n.text(language, f"when.weekday.{n}") for n in range(1, 8)}
    assert len(weekdays) == 7


def test_a_missing_key_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text the catalogue lacks is an error (never a message with a hole in it)."""
    words = dict(i18n.catalogue("nn"))
    del words["message.confirmed.lead"]
    from types import MappingProxyType

    monkeypatch.setattr(i18n, "catalogue", lambda language: MappingProxyType(words))
    with pytest.raises(KeyError):
        inbox_text("confirmed", payload("nn"))


def test_the_catalogues_have_the_same_server_keys() -> None:
    """What the server reads exists in every language (tests/browser/test_portal_texts.py checks
    that all keys are the same and none is empty; this names the server's part)."""
    for language in LANGUAGES:
        words = json.loads(i18n.path_of(language).read_text(encoding="utf-8"))
        server = {k for k in words if k.startswith(("message.", "ics.", "when."))}
        assert len(server) >= 40, language
        assert all(f"status.{s}" in words for s in ("requested", "booked", "rejected", "cancelled"))


def _appointment(language: str, status: str = "booked") -> Appointment:
    return Appointment(
        id="ap1",
        status=status,
        version=2,
        slot_id="s1",
        place=0,
        start="2022-10-05T13:30:00+02:00",
        end="2022-10-05T13:45:00+02:00",
        duration_minutes=15,
        cancel_deadline_hours=2,
        timebook=TimebookRef("tb1", "Koronatest", "koronatest"),
        health_contact=HealthContactRef("hc1", "Helsenorge Kommune Smittevern"),
        location=Location("loc1", "Korona teststasjon A", "Gaten 1, 0271 Oslo", "Følg skilting"),
        for_pid=PID,
        for_name="Elise",
        booked_by=PID,
        booked_by_name="Elise",
        answers=(Answer("q1", "Symptomer?", "ja"),),
        phone=PHONE,
        description="",
        reason=None,
        created_at="2022-10-01T10:00:00+02:00",
        updated_at="2022-10-01T10:00:00+02:00",
        language=language,
    )


@pytest.mark.parametrize(
    ("language", "summary", "words"),
    [
        (
            "nb",
            "Time til koronatest hos Helsenorge Kommune Smittevern",
            ("Status: Tildelt.", "Tid: onsdag 5. okt. 2022, kl. 13:30.", "Antatt varighet: 15 min.", "senest 2 timer"),
        ),
        (
            "nn",
            "Time til koronatest hos Helsenorge Kommune Smittevern",
            ("Status: Tildelt.", "Tid: onsdag 5. okt. 2022, kl. 13:30.", "Venta varigheit: 15 min.", "seinast 2 timar"),
        ),
        (
            "en",
            "Appointment for koronatest with Helsenorge Kommune Smittevern",
            (
                "Status: Confirmed.",
                "Time: Wednesday 5 Oct 2022, 13:30.",
                "Expected duration: 15 min.",
                "2 hours before",
            ),
        ),
    ],
)
def test_the_ics_parses_and_speaks_the_appointments_language(
    language: str, summary: str, words: tuple[str, ...]
) -> None:
    from icalendar import Calendar

    calendar = Calendar.from_ical(appointment_ics(_appointment(language)))
    event = calendar.walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == summary
    description = str(event["DESCRIPTION"])
    for word in words:
        assert word in description, (word, description)
    assert "booked" not in description  # the issue's «Status: booked.» in English on a Norwegian page
    alarm = event.walk("VALARM")[0]
    assert alarm["ACTION"] == "DISPLAY" and alarm["TRIGGER"].dt.total_seconds() == -3600
    assert summary in str(alarm["DESCRIPTION"])
    assert event["DTSTART"].dt.isoformat() == "2022-10-05T13:30:00+02:00"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_cancelled_ics_has_no_alarm_and_says_so(language: str) -> None:
    from icalendar import Calendar

    calendar = Calendar.from_ical(appointment_ics(_appointment(language, "cancelled")))
    event = calendar.walk("VEVENT")[0]
    assert calendar["METHOD"] == "CANCEL" and event["STATUS"] == "CANCELLED"
    assert event.walk("VALARM") == []
    assert i18n.text(language, "status.cancelled") in str(event["DESCRIPTION"])


def test_an_appointment_from_before_languages_gets_a_bokmal_ics() -> None:
    from icalendar import Calendar

    old = replace(_appointment("nb"), language="xx")
    event = Calendar.from_ical(appointment_ics(old)).walk("VEVENT")[0]
    assert str(event["SUMMARY"]).startswith("Time til koronatest")
