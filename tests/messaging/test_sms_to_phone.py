"""SMS to the phone given at booking, only when the person asked for it (issue 23): the flag of
`POST /appointments` is answered, stored, kept on a move and carried in the event's payload, and
KRR still decides first (a reserved person gets nothing, even when asked). On moto: the stored
item's own attribute is read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import pytest

from chalicelib.booking.commands import BookAppointment
from chalicelib.booking.idempotency import request_hash_of
from chalicelib.messaging import krr, sms
from chalicelib.messaging.relay import appointment_message
from chalicelib.storage import repository
from chalicelib.storage.models import AppointmentItem
from tests.conftest import KORONATEST_ANSWERS, Citizen
from tests.helpers import book_body, first_free_slot, free_slots, stream_messages
from tests.messaging.conftest import PID, appointment, carrying

MOBILE = "+4791234567"


class Recorder:
    """SNS as a list: (to, body) per SMS."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> str:
        self.sent.append((to, body))
        return f"m{len(self.sent)}"


def _sent_to(message: dict[str, Any], contact: krr.Contact) -> list[str]:
    """Where the SMS of one event goes, with KRR answering `contact`."""
    sender = Recorder()
    sms.send_for_event(
        message["event_id"],
        message["kind"],
        message["payload"]["for_pid"],
        message["appointment_id"],
        message["payload"],
        sender=sender,
        lookup=lambda _: contact,
    )
    return [to for to, _ in sender.sent]


def _e164(phone: str) -> str:
    return phone.replace(" ", "")


def test_asked_for_at_booking_it_is_answered_stored_kept_and_carried(client, demo) -> None:
    asked, not_asked = Citizen(61), Citizen(62)
    slot = first_free_slot(client, demo.koronatest_id)
    made = client.post(
        "/appointments",
        book_body(asked.phone, KORONATEST_ANSWERS, slot_id=slot["id"], sms_to_phone=True),
        token=asked.token,
    )
    assert made.status == 201, made
    assert made.json["sms_to_phone"] is True
    assert AppointmentItem.get(*_key(made.json["id"])).sms_to_phone is True  # the item's own attribute
    plain = client.post(
        "/appointments", book_body(not_asked.phone, KORONATEST_ANSWERS, slot_id=slot["id"]), token=not_asked.token
    )
    assert plain.status == 201, plain
    assert plain.json["sms_to_phone"] is False

    messages = {m["appointment_id"]: m for m in stream_messages()}
    payload = messages[made.json["id"]]["payload"]
    assert payload["sms_to_phone"] == "yes" and payload["phone"] == made.json["phone"]
    assert "sms_to_phone" not in messages[plain.json["id"]]["payload"]
    assert "phone" not in messages[plain.json["id"]]["payload"]  # not asked: the phone stays off the queue

    # Moved: the choice moves with it, and the move's event carries it too.
    day = made.json["start"][:10]
    target = next(s for s in free_slots(client, demo.koronatest_id, day) if s["id"] != made.json["slot_id"])
    moved = client.post(f"/appointments/{made.json['id']}/reschedule", {"slot_id": target["id"]}, token=asked.token)
    assert moved.status == 200, moved
    assert moved.json["sms_to_phone"] is True
    assert repository.get_appointment(made.json["id"]).sms_to_phone is True
    (rescheduled,) = [m for m in stream_messages() if m["kind"] == "rescheduled"]
    assert rescheduled["payload"]["sms_to_phone"] == "yes"
    # Not in KRR: the SMS of the move goes to the phone asked for (a request gets no SMS at all).
    assert _sent_to(rescheduled, krr.unknown(asked.pid)) == [_e164(asked.phone)]
    assert client.get(f"/appointments/{made.json['id']}", token=asked.token).json["sms_to_phone"] is True


def _key(appointment_id: str) -> tuple[str, str]:
    from chalicelib.storage import keys

    return keys.appointment(appointment_id)


@pytest.mark.parametrize(
    ("asked", "contact", "sent"),
    [
        (True, krr.unknown(PID), ["booking"]),  # not in KRR: the phone asked for
        (True, krr.Contact(PID, "AKTIV", False, None), ["booking"]),  # in KRR without a mobile
        (True, krr.Contact(PID, "AKTIV", False, MOBILE), ["booking"]),  # asked for: the booking's phone first
        (True, krr.Contact(PID, "AKTIV", True, MOBILE), []),  # reserved: nothing, even when asked
        (False, krr.unknown(PID), []),  # not asked and not in KRR: nothing
        (False, krr.Contact(PID, "AKTIV", False, MOBILE), [MOBILE]),  # not asked: KRR's number only
    ],
    ids=["asked-unknown", "asked-no-mobile", "asked-in-krr", "asked-reserved", "not-asked-unknown", "not-asked-krr"],
)
def test_whom_an_sms_goes_to(aws, asked: bool, contact: krr.Contact, sent: list[str]) -> None:
    item = appointment("ap1")
    item.sms_to_phone = asked
    message = appointment_message(carrying(item, "confirmed"))
    assert message is not None
    expected = [_e164(item.phone) if to == "booking" else to for to in sent]
    assert _sent_to(message, contact) == expected


def test_an_item_from_before_the_flag_reads_as_not_asked(aws) -> None:
    item = carrying(appointment("ap1"), "confirmed")
    repository._prepare_appointment(item)
    item.save()
    AppointmentItem._get_connection().update_item(  # as written before the attribute existed
        item.pk, item.sk, actions=[AppointmentItem.sms_to_phone.remove()]
    )
    raw = AppointmentItem._get_connection().get_item(item.pk, item.sk)["Item"]
    assert "sms_to_phone" not in raw
    old = AppointmentItem.get(item.pk, item.sk)
    assert old.sms_to_phone is False
    assert repository.get_appointment("ap1").sms_to_phone is False
    message = appointment_message(old)
    assert message is not None and "sms_to_phone" not in message["payload"] and "phone" not in message["payload"]


def test_an_erased_appointment_sends_no_phone_along(aws) -> None:
    """Retention blanks the phone; the flag left behind carries nothing to the queue."""
    item = appointment("ap1")
    item.sms_to_phone, item.phone = True, ""
    message = appointment_message(carrying(item, "cancelled"))
    assert message is not None and "phone" not in message["payload"] and "sms_to_phone" not in message["payload"]


def test_the_idempotency_hash_takes_the_flag_only_when_asked() -> None:
    body = BookAppointment(phone="+47 912 34 567", slot_id="s1", answers={"a": "ja"})
    before = {name: value for name, value in asdict(body).items() if name != "sms_to_phone"}
    old_hash = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert request_hash_of(body) == old_hash  # a key used before the field still matches its retry
    asked = BookAppointment(phone="+47 912 34 567", slot_id="s1", answers={"a": "ja"}, sms_to_phone=True)
    assert request_hash_of(asked) != old_hash


def test_a_retry_that_changes_the_choice_is_another_request(client, demo) -> None:
    citizen = Citizen(63)
    slot = first_free_slot(client, demo.koronatest_id)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id=slot["id"])
    key = {"Idempotency-Key": "sms-choice-1"}
    first = client.post("/appointments", body, token=citizen.token, headers=key)
    assert first.status == 201, first
    same = client.post("/appointments", {**body, "sms_to_phone": False}, token=citizen.token, headers=key)
    assert (same.status, same.json["id"]) == (200, first.json["id"])  # false is what leaving it out means
    other = client.post("/appointments", {**body, "sms_to_phone": True}, token=citizen.token, headers=key)
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_key_reused", other


@pytest.mark.parametrize("value", ["yes", "true", 1, None, [True]])
def test_only_a_json_boolean_is_taken(client, value: Any) -> None:
    citizen = Citizen(64)
    body = book_body(citizen.phone, KORONATEST_ANSWERS, slot_id="sl1", sms_to_phone=value)
    answer = client.post("/appointments", body, token=citizen.token)
    assert answer.status == 400, answer
    assert [f["field"] for f in answer.json["error"]["fields"]] == ["sms_to_phone"]
