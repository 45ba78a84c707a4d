"""The person's language (issue 22): what they book or join in (Accept-Language) is stored, kept
when they reschedule, and their inbox messages and .ics speak it; no header is bokmål."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import i18n
from chalicelib.http.language import parse_accept_language
from chalicelib.storage import mapping, repository
from chalicelib.storage.models import AppointmentItem, WaitlistEntryItem
from tests.booking.waitlist_world import Small, small_world
from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.helpers import book_body, deliver_events, first_free_slot, free_slots


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "nb"),
        ("", "nb"),
        ("nb", "nb"),
        ("nn", "nn"),
        ("en", "en"),
        ("no", "nb"),
        ("nb-NO", "nb"),
        ("nn-NO", "nn"),
        ("NN-no", "nn"),
        ("en-GB", "en"),
        ("en-US,en;q=0.9", "en"),
        ("de-DE,de;q=0.9", "nb"),  # nothing we speak
        ("*", "nb"),
        ("sv, nn;q=0.5, en;q=0.4", "nn"),
        ("nb;q=0.2, en;q=0.8", "en"),  # the highest q wins, not the first
        ("nn;q=0, en", "en"),  # q=0: not wanted at all
        ("en;q=abc, nn", "nn"),
        ("nn-NO,nn;q=0.9,no;q=0.8,nb;q=0.7,en;q=0.5", "nn"),  # a Norwegian browser set to nynorsk
        ("x" * 5000, "nb"),
        (",,;;==", "nb"),
    ],
)
def test_accept_language(header: str | None, language: str) -> None:
    assert parse_accept_language(header) == language


def _inbox(client: Any, citizen: Citizen) -> list[dict[str, Any]]:
    deliver_events()
    response = client.get("/inbox", token=citizen.token)
    assert response.status == 200, response
    return response.json["items"]


def _book(client: Any, demo: Any, citizen: Citizen, headers: dict[str, str] | None = None) -> dict[str, Any]:
    slot = first_free_slot(client, demo.koronatest_id)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"])
    made = client.post("/appointments", body, token=citizen.token, headers=headers or {})
    assert made.status == 201, made
    return made.json


@pytest.mark.parametrize(("header", "language"), [("nn-NO", "nn"), ("en", "en"), (None, "nb")])
def test_booked_in_a_language_its_messages_and_ics_speak_it(client, demo, header, language) -> None:
    from icalendar import Calendar

    citizen = Citizen(41)
    made = _book(client, demo, citizen, {"Accept-Language": header} if header else None)
    assert repository.get_appointment(made["id"]).language == language
    [requested] = _inbox(client, citizen)
    assert requested["title"] == i18n.text(language, "message.requested.title")
    assert i18n.text(language, "message.request_only") in requested["body"]

    # Moved from a page in another language: the appointment keeps the language it was booked in.
    day = made["start"][:10]
    target = next(s for s in reversed(free_slots(client, demo.koronatest_id, day)) if s["id"] != made["slot_id"])
    moved = client.post(
        f"/appointments/{made['id']}/reschedule",
        {"slot_id": target["id"]},
        token=citizen.token,
        headers={"Accept-Language": "en" if language != "en" else "nn"},
    )
    assert moved.status == 200, moved
    assert repository.get_appointment(made["id"]).language == language
    rescheduled = next(m for m in _inbox(client, citizen) if m["kind"] == "rescheduled")
    assert rescheduled["title"] == i18n.text(language, "message.rescheduled.title")

    ics = client.get(f"/appointments/{made['id']}/ics", token=citizen.token)
    event = Calendar.from_ical(ics.text).walk("VEVENT")[0]
    assert str(event["SUMMARY"]).startswith(i18n.text(language, "ics.summary").split("{")[0])
    assert i18n.text(language, "status.requested") in str(event["DESCRIPTION"])


def test_a_replayed_booking_in_another_language_answers_the_first(client, demo) -> None:
    """The language is not part of what an Idempotency-Key compares: a retry after a language
    switch answers the first appointment, in the first language."""
    citizen = Citizen(42)
    slot = first_free_slot(client, demo.koronatest_id)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"])
    first = client.post(
        "/appointments", body, token=citizen.token, headers={"Idempotency-Key": "k-42", "Accept-Language": "nn"}
    )
    again = client.post(
        "/appointments", body, token=citizen.token, headers={"Idempotency-Key": "k-42", "Accept-Language": "en"}
    )
    assert first.status == 201 and again.status == 200 and again.json["id"] == first.json["id"]
    assert repository.get_appointment(first.json["id"]).language == "nn"


@pytest.fixture
def small(client, demo, staff_token, aws) -> Small:
    return small_world(client, demo, staff_token, aws["queue_url"])


def test_a_waitlist_offer_speaks_the_language_joined_in(small: Small) -> None:
    holder, waiting = Citizen(43), Citizen(44)
    booked = small.book(holder, slot_id=small.slot_ids[0])
    joined = small.client.post(
        "/waitlist", {"timebook_id": small.timebook_id}, token=waiting.token, headers={"Accept-Language": "en-GB"}
    )
    assert joined.status == 201 and joined.json["status"] == "waiting", joined
    cancelled = small.client.post(f"/appointments/{booked['id']}/cancel", {}, token=holder.token)
    assert cancelled.status == 200, cancelled
    small.deliver()
    messages = small.client.get("/inbox", token=waiting.token).json["items"]
    offer = next(m for m in messages if m["kind"] == "offer")
    assert offer["title"] == "A free time for you from the waitlist", offer
    assert "Book it by" in offer["body"]
    # The holder booked without a header: bokmål.
    holder_messages = small.client.get("/inbox", token=holder.token).json["items"]
    assert {m["title"] for m in holder_messages} >= {"Timen er avbestilt"}


def test_items_from_before_languages_read_as_bokmal() -> None:
    """An appointment or waitlist entry stored without `language` reads as nb (no migration)."""
    appointment = AppointmentItem(
        id="ap1", status="booked", slot_id="s", place=0, start="2024-03-01T10:00:00+01:00",
        end="2024-03-01T10:15:00+01:00", duration_minutes=15, for_pid="p", booked_by="p", phone="+4791234567",
        created_at="2024-02-01T10:00:00+01:00", updated_at="2024-02-01T10:00:00+01:00",
    )  # fmt: skip
    raw = appointment.serialize(null_check=False)
    raw.pop("language", None)
    assert mapping.appointment(AppointmentItem.from_raw_data(raw)).language == "nb"
    entry = WaitlistEntryItem(
        id="wl1", timebook_id="tb", for_pid="p", owner="p", status="waiting",
        created_at="2024-02-01T09:00:00.000+00:00", updated_at="2024-02-01T09:00:00.000+00:00",
    )  # fmt: skip
    raw = entry.serialize(null_check=False)
    raw.pop("language", None)
    assert mapping.entry(WaitlistEntryItem.from_raw_data(raw)).language == "nb"
