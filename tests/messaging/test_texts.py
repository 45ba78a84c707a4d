"""Inbox texts: every kind in bokmål, the guide's wording and time format, Oslo time across DST."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.i18n import months
from chalicelib.messaging.texts import KINDS, format_time, inbox_text
from tests.messaging.conftest import PHONE, PID


def payload(**extra: str) -> dict[str, Any]:
    return {
        "for_pid": PID,
        "timebook_name": "Koronatest",
        "health_contact_name": "Pcr Covid-19 DDFL",
        "start": "2022-10-05T13:30:00+02:00",
        "location_name": "Korona teststasjon A",
        "location_address": "Gaten 1, 0271 Oslo",
        **extra,
    }


GUIDE_HEADING = "5. okt. 2022, kl. 13:30: Time til koronatest hos Pcr Covid-19 DDFL"
GUIDE_PLACE = "Oppmøtested: Korona teststasjon A, Gaten 1, 0271 Oslo"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_title_and_names_the_appointment(kind):
    title, body = inbox_text(kind, payload(old_start="2022-10-04T09:00:00+02:00"))
    assert title and body
    assert GUIDE_HEADING in body


def test_confirmed_uses_the_guides_words():
    title, body = inbox_text("confirmed", payload())
    assert title == "Timen er bekreftet"
    assert body.splitlines() == ["Din timereservasjon er bekreftet.", GUIDE_HEADING, GUIDE_PLACE]


def test_requested_says_it_is_only_a_request():
    title, body = inbox_text("requested", payload())
    assert title == "Timebestillingen er sendt"
    assert body.startswith(
        "Takk for din henvendelse.\n"
        "Bestillingen er kun en forespørsel. Timen er ikke tildelt før du mottar en bekreftelse."
    )
    assert GUIDE_PLACE in body


def test_rejected_gives_the_reason_when_there_is_one():
    _, body = inbox_text("rejected", payload(reason="Ingen ledige testere"))
    assert "avslått" in body and "Begrunnelse: Ingen ledige testere" in body
    _, without = inbox_text("rejected", payload())
    assert "Begrunnelse" not in without
    _, blank = inbox_text("rejected", payload(reason="  "))
    assert "Begrunnelse" not in blank


def test_cancelled_with_and_without_reason():
    title, body = inbox_text("cancelled", payload(reason="Teststasjonen er stengt"))
    assert title == "Timen er avbestilt"
    assert "Begrunnelse: Teststasjonen er stengt" in body
    assert "Begrunnelse" not in inbox_text("cancelled", payload())[1]


def test_rescheduled_gives_the_new_and_the_old_time():
    title, body = inbox_text("rescheduled", payload(old_start="2022-10-04T09:00:00+02:00"))
    assert title == "Timen er flyttet"
    assert "Timen er flyttet til 5. okt. 2022, kl. 13:30." in body
    assert "Tidligere tidspunkt: 4. okt. 2022, kl. 09:00." in body
    assert "Tidligere" not in inbox_text("rescheduled", payload())[1]


def test_reminder_is_for_tomorrow():
    title, body = inbox_text("reminder", payload())
    assert "i morgen" in title and "i morgen" in body
    assert GUIDE_PLACE in body


def test_unknown_kind_and_missing_start_are_refused():
    with pytest.raises(ValueError):
        inbox_text("booked", payload())
    with pytest.raises(ValueError):
        inbox_text("confirmed", {k: v for k, v in payload().items() if k != "start"})
    with pytest.raises(ValueError):
        inbox_text("confirmed", payload(start="i morgen"))


@pytest.mark.parametrize("kind", KINDS)
def test_no_identity_number_or_phone_in_any_text(kind):
    title, body = inbox_text(kind, payload(reason="r", old_start="2022-10-04T09:00:00+02:00", phone=PHONE))
    for secret in (PID, PHONE, PHONE.replace(" ", "")):
        assert secret not in title and secret not in body


def test_place_line_is_left_out_when_the_location_is_unknown():
    _, body = inbox_text("confirmed", payload(location_name="", location_address=""))
    assert "Oppmøtested" not in body
    _, name_only = inbox_text("confirmed", payload(location_address=""))
    assert "Oppmøtested: Korona teststasjon A" in name_only.splitlines()


def test_timebook_names_keep_acronyms():
    _, body = inbox_text("confirmed", payload(timebook_name="PCR-test"))
    assert "Time til PCR-test hos" in body


@pytest.mark.parametrize(
    ("start", "shown"),
    [
        ("2022-10-05T11:30:00+00:00", "5. okt. 2022, kl. 13:30"),  # summer: UTC+2
        ("2024-03-01T09:00:00Z", "1. mars 2024, kl. 10:00"),  # winter: UTC+1
        ("2024-01-15T08:15:00+01:00", "15. jan. 2024, kl. 08:15"),
        ("2024-07-01T06:00:00+00:00", "1. juli 2024, kl. 08:00"),
        # last Sunday of March: 02:00 CET becomes 03:00 CEST
        ("2024-03-31T00:30:00+00:00", "31. mars 2024, kl. 01:30"),
        ("2024-03-31T01:30:00+00:00", "31. mars 2024, kl. 03:30"),
        # last Sunday of October: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice
        ("2024-10-27T00:30:00+00:00", "27. okt. 2024, kl. 02:30"),
        ("2024-10-27T01:30:00+00:00", "27. okt. 2024, kl. 02:30"),
        ("2024-10-27T02:30:00+00:00", "27. okt. 2024, kl. 03:30"),
        ("2024-12-31T23:30:00+00:00", "1. jan. 2025, kl. 00:30"),  # another day in Oslo
    ],
)
def test_times_are_shown_in_oslo_as_the_guide_does(start, shown):
    assert format_time(start) == shown
    assert f"{shown}: Time til" in inbox_text("confirmed", payload(start=start))[1]


def test_month_abbreviations():
    shown = [format_time(f"2023-{month:02d}-10T12:00:00+01:00").split(" ")[1] for month in range(1, 13)]
    assert shown == list(months("nb"))
    assert months("nb") == (
        "jan.",
        "feb.",
        "mars",
        "apr.",
        "mai",
        "juni",
        "juli",
        "aug.",
        "sep.",
        "okt.",
        "nov.",
        "des.",
    )


def test_a_time_without_offset_is_oslo_time():
    assert format_time("2022-10-05T13:30:00") == "5. okt. 2022, kl. 13:30"


def test_offer_says_until_when_the_place_is_held():
    title, body = inbox_text("offer", payload(expires_at="2022-10-04T09:30:00+02:00", waitlist="yes"))
    assert title == "Ledig time til deg fra ventelisten"
    assert "Bestill den innen 4. okt. 2022, kl. 09:30" in body and GUIDE_PLACE in body


def test_closed_for_an_appointment_and_for_a_waiting_person():
    title, body = inbox_text("closed", payload(reason="Teststasjonen er stengt"))
    assert title == "Timen er avlyst" and "Begrunnelse: Teststasjonen er stengt" in body
    told = payload(waitlist="yes", end="2022-10-06T08:00:00+02:00", reason="Vannlekkasje")
    title, body = inbox_text("closed", told)
    assert title == "Stengt i perioden du venter på"
    assert "fra 5. okt. 2022, kl. 13:30 til 6. okt. 2022, kl. 08:00" in body and "Vannlekkasje" in body
