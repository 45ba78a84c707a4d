"""Word by SMS (messaging/sms.py): one SMS per inbox message at most, to the number KRR gives,
in the person's language, never in the quiet hours for reminders; a refusal is retried through
SQS and ends in the dead-letter queue. SNS is moto's; KRR is a stub here (tests/local/test_krr.py
runs the client against the stand-in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.local.krr import captured
from chalicelib.messaging import krr, sms
from chalicelib.messaging.consumer import handle_batch
from chalicelib.messaging.publisher import SqsPublisher
from chalicelib.messaging.sms import SMS_KINDS, SmsNotifier, sms_text
from chalicelib.storage import repository
from chalicelib.storage import sms as marks
from tests.messaging.conftest import PHONE, PID, body_of, event, receive_all
from tests.messaging.test_dead_letter import max_receive_count

MOBILE = "+4791234567"


class Register:
    """KRR as a stub: a contact per person; can be down."""

    def __init__(self, contact: krr.Contact | None = None, down: int = 0) -> None:
        self.contact = contact or krr.Contact(PID, "AKTIV", False, MOBILE)
        self.down, self.asked = down, 0

    def __call__(self, pid: str) -> krr.Contact:
        self.asked += 1
        if self.down:
            self.down -= 1
            raise krr.KrrUnavailable("KRR answered 503")
        return self.contact


class Refusing:
    """SNS saying no (throttled, opted out, a sandbox): nothing went."""

    def __init__(self, times: int = 10**6) -> None:
        self.times, self.tries = times, 0
        self.real = sms.SnsSender()

    def send(self, to: str, body: str) -> str:
        self.tries += 1
        if self.tries <= self.times:
            raise sms.SmsRefused("ThrottlingException")
        return self.real.send(to, body)


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Register:
    found = Register()
    monkeypatch.setattr(sms, "krr_contact", found)
    return found


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    """An instant in Oslo (October 2022: +02:00) as UTC."""
    return datetime(2022, 10, day, hour - 2, minute, tzinfo=UTC)


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: moment)


def deliver_twice(item: Any) -> list[dict[str, Any]]:
    notifier = SmsNotifier()
    assert handle_batch([("m1", body_of(item))], notifier) == {"batchItemFailures": []}
    assert handle_batch([("m1", body_of(item))], notifier) == {"batchItemFailures": []}  # SQS again
    return captured()


# ---- texts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["nb", "nn", "en"])
@pytest.mark.parametrize("kind", sorted(SMS_KINDS))
def test_each_kind_has_a_short_text_in_each_language_without_health_details(kind: str, language: str) -> None:
    payload = {
        **event("ap1", kind, reason="Positiv test").message["payload"],
        "expires_at": "2022-10-04T12:30:00+02:00",
        "language": language,
    }
    text = sms_text(kind, payload, sms.language_of(payload))
    assert ("13:30" in text) and len(text) <= 160
    assert "5. okt." in text if language != "en" else "5 Oct" in text
    for secret in (PID, PHONE, "Positiv", "oronatest", "teststasjon", "Gaten"):
        assert secret not in text, (kind, language, secret)


def test_the_texts_read_as_written() -> None:
    payload = event("ap1", "confirmed").message["payload"]
    assert sms_text("confirmed", payload, "nb") == (
        "Timen din 5. okt. kl. 13:30 hos Pcr Covid-19 DDFL er bekreftet. Se Helsenorge for mer."
    )
    assert sms_text("confirmed", payload, "nn") == (
        "Timen din 5. okt. kl. 13:30 hos Pcr Covid-19 DDFL er stadfesta. Sjå Helsenorge for meir."
    )
    assert sms_text("rescheduled", payload, "en") == (
        "Your appointment with Pcr Covid-19 DDFL is now on 5 Oct at 13:30. See Helsenorge for more."
    )


def test_language_is_read_in_one_place_with_bokmal_by_default() -> None:
    class Entry:
        language = "nn"

    assert sms.language_of(Entry()) == "nn" and sms.language_of(object()) == "nb"
    assert sms.language_of({"language": "en"}) == "en" and sms.language_of({"language": "se"}) == "nb"


def test_kinds_without_an_sms() -> None:
    assert not sms.gets_sms("requested", {"start": "x"}) and not sms.gets_sms("rejected", {"start": "x"})
    assert not sms.gets_sms("closed", {"start": "x", "waitlist": "yes"})  # a note to a waiting person
    assert sms.gets_sms("closed", {"start": "x"})  # an appointment called off


def test_a_waitlist_offer_gets_its_sms(aws, register) -> None:
    """As booking/waitlist.py makes it: the entry's id for the appointment's, `waitlist: yes`."""
    from chalicelib.domain.model import Event as Note

    note = Note(
        event_id="ev-offer-1",
        kind="offer",
        appointment_id="wl1",
        created_at="2022-10-04T12:00:00.000+02:00",
        payload={
            "for_pid": PID,
            "timebook_name": "Koronatest",
            "health_contact_name": "Smittevern",
            "waitlist": "yes",
            "start": "2022-10-05T13:30:00+02:00",
            "location_name": "A",
            "location_address": "Gaten 1",
            "expires_at": "2022-10-04T12:30:00+02:00",
        },
        ttl=1,
    )
    message = {k: getattr(note, k) for k in ("event_id", "kind", "appointment_id", "created_at", "payload")}
    assert handle_batch([("m1", json.dumps(message))], SmsNotifier()) == {"batchItemFailures": []}
    (sent,) = captured()
    assert sent["appointment_id"] == "wl1"
    assert sent["body"] == (
        "En ledig time 5. okt. kl. 13:30 hos Smittevern er holdt av til deg til 4. okt. kl. 12:30. "
        "Bestill den på Helsenorge."
    )


# ---- whom ---------------------------------------------------------------------------------------------


def test_found_in_krr_gets_one_sms_however_often_sqs_delivers(aws, register) -> None:
    item = event("ap1", "confirmed")
    (sent,) = deliver_twice(item)
    assert sent["to"] == MOBILE and sent["appointment_id"] == "ap1" and sent["sent_at"]
    assert sent["body"].startswith("Timen din 5. okt. kl. 13:30")
    assert marks.sms_mark(item.event_id).state == "sent"  # type: ignore[union-attr]
    assert len(repository.inbox_of([PID])) == 1


@pytest.mark.parametrize(
    "contact",
    [
        krr.Contact(PID, "AKTIV", True, MOBILE),  # reserved against digital contact
        krr.unknown(PID),  # not in the register
        krr.Contact(PID, "AKTIV", False, None),  # no mobile number
        krr.Contact(PID, "AKTIV", False, MOBILE, may_notify=False),  # KAN_IKKE_VARSLES
        krr.Contact(PID, "SLETTET", False, MOBILE),
    ],
    ids=["reserved", "unknown", "no-number", "no-notices", "deleted"],
)
def test_no_sms_without_a_number_krr_allows(aws, register, contact) -> None:
    register.contact = contact
    item = event("ap1", "confirmed")
    assert deliver_twice(item) == []
    assert marks.sms_mark(item.event_id).state == "skipped"  # type: ignore[union-attr]
    assert register.asked == 1  # decided once, not asked again on the redelivery
    assert len(repository.inbox_of([PID])) == 1  # the inbox has it all the same


def test_the_booking_phone_only_when_asked_and_never_past_a_reservation() -> None:
    found = krr.Contact(PID, "AKTIV", False, MOBILE)
    assert sms.recipient(PID, {"phone": PHONE}, lambda _: found) == MOBILE
    asked = {"phone": PHONE, "sms_to_phone": "yes"}
    assert sms.recipient(PID, asked, lambda _: found) == PHONE.replace(" ", "")
    reserved = krr.Contact(PID, "AKTIV", True, MOBILE)
    assert sms.recipient(PID, asked, lambda _: reserved) is None


def test_krr_down_is_retried_by_sqs_and_nothing_is_lost(aws, register) -> None:
    register.down = 2
    item = event("ap1", "cancelled")
    notifier = SmsNotifier()
    for _ in range(2):
        assert handle_batch([("m1", body_of(item))], notifier) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert captured() == [] and len(repository.inbox_of([PID])) == 1  # the inbox did not wait
    assert handle_batch([("m1", body_of(item))], notifier) == {"batchItemFailures": []}
    assert handle_batch([("m1", body_of(item))], notifier) == {"batchItemFailures": []}
    assert [s["body"][:28] for s in captured()] == ["Timen din 5. okt. kl. 13:30 "]


def test_a_crash_between_the_send_and_the_mark_never_sends_twice(aws, register, monkeypatch) -> None:
    item = event("ap1", "confirmed")

    def crash(*_: Any) -> None:
        raise RuntimeError("the function timed out")

    with monkeypatch.context() as patch:
        patch.setattr(marks, "finish_sms", crash)
        handle_batch([("m1", body_of(item))], SmsNotifier())
    assert len(captured()) == 1
    assert marks.sms_mark(item.event_id).state == "sending"  # type: ignore[union-attr]
    assert handle_batch([("m1", body_of(item))], SmsNotifier()) == {"batchItemFailures": []}
    assert len(captured()) == 1  # at most once (docs/sms.md)


def test_an_unanswered_publish_is_not_retried(aws, register, monkeypatch) -> None:
    item = event("ap1", "confirmed")

    class Silent:
        def send(self, to: str, body: str) -> str:
            raise TimeoutError("read timeout")

    assert sms.send_for_event(item.event_id, "confirmed", PID, "ap1", item.message["payload"], sender=Silent()) == (
        "sending"
    )
    assert sms.send_for_event(item.event_id, "confirmed", PID, "ap1", item.message["payload"]) == "sending"
    assert captured() == []


def test_the_claim_is_won_once_and_again_only_after_a_release(aws) -> None:
    assert marks.claim_sms("e1", 1) is True
    assert marks.claim_sms("e1", 1) is False
    marks.release_sms("e1")
    assert marks.claim_sms("e1", 1) is True
    marks.finish_sms("e1", "sent", {"appointment_id": "ap1"})
    marks.release_sms("e1")  # only a claim in hand is given back
    assert marks.claim_sms("e1", 1) is False and marks.sms_mark("e1").state == "sent"  # type: ignore[union-attr]
    assert marks.defer_sms("e1", "2030-01-01T07:00:00+00:00", {}, 1) is False


def test_sns_publish_carries_the_originator_and_transactional(aws, monkeypatch) -> None:
    calls: list[dict[str, Any]] = []

    class Client:
        def publish(self, **call: Any) -> dict[str, str]:
            calls.append(call)
            return {"MessageId": "m-1"}

    monkeypatch.setenv("SMS_SENDER_ID", "Oslo kommune!")
    from chalicelib import settings

    settings.reset(caches=False)
    assert sms.SnsSender(Client()).send(MOBILE, "Hei") == "m-1"
    (call,) = calls
    assert call["PhoneNumber"] == MOBILE and call["Message"] == "Hei"
    assert call["MessageAttributes"]["AWS.SNS.SMS.SenderID"]["StringValue"] == "Oslokommune"
    assert call["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"


# ---- SNS refusing: retried, then the dead-letter queue ---------------------------------------------------


def test_fault_sns_refusing_is_retried_then_dead_lettered_and_replayed(aws, sqs, register, monkeypatch) -> None:
    queue, dlq = aws["queue_url"], aws["dead_letter_queue_url"]
    refusing = Refusing()
    monkeypatch.setattr(sms, "_sender", refusing)
    item = event("ap1", "confirmed")
    SqsPublisher().publish(item.message)
    notifier = SmsNotifier()
    for _ in range(max_receive_count(sqs, queue) + 1):
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        if not messages:
            break
        answer = handle_batch([(m["MessageId"], m["Body"]) for m in messages], notifier)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert refusing.tries == 5 and captured() == []
    (dead,) = receive_all(sqs, dlq)
    assert len(repository.inbox_of([PID])) == 1  # nothing lost: the inbox, and the event in the DLQ
    assert marks.sms_mark(item.event_id).state == "released"  # type: ignore[union-attr]

    refusing.times = 0  # SNS takes it again; the dead letter is replayed
    assert handle_batch([("replay", dead["Body"])], notifier) == {"batchItemFailures": []}
    assert len(captured()) == 1


# ---- quiet hours --------------------------------------------------------------------------------------


def test_quiet_hours_are_21_to_08_oslo() -> None:
    assert sms.quiet_until(at(20, 59)) is None and sms.quiet_until(at(8, 0)) is None
    assert sms.quiet_until(at(21, 0)) == datetime(2022, 10, 5, 6, tzinfo=UTC)
    assert sms.quiet_until(at(7, 59)) == datetime(2022, 10, 4, 6, tzinfo=UTC)
    winter = datetime(2022, 12, 1, 22, tzinfo=UTC)  # 23:00 in Oslo (+01:00)
    assert sms.quiet_until(winter) == datetime(2022, 12, 2, 7, tzinfo=UTC)


def test_a_reminder_in_the_quiet_hours_waits_until_eight(aws, register, monkeypatch) -> None:
    item = event("ap1", "reminder")
    freeze(monkeypatch, at(22, 30))
    assert deliver_twice(item) == []
    assert marks.sms_mark(item.event_id).state == "deferred"  # type: ignore[union-attr]
    assert len(repository.inbox_of([PID])) == 1  # the inbox does not wait

    freeze(monkeypatch, at(7, 59, day=5))
    assert sms.send_due() == 0 and captured() == []
    freeze(monkeypatch, at(8, 0, day=5))
    assert sms.send_due() == 1
    assert sms.send_due() == 0
    (sent,) = captured()
    assert sent["to"] == MOBILE and sent["body"].startswith("Påminnelse: Du har time 5. okt. kl. 13:30")
    assert sent["sent_at"].startswith("2022-10-05T06:00")
    assert marks.sms_mark(item.event_id).detail.keys() == {"appointment_id", "sent_at", "message_id"}  # type: ignore[union-attr]


def test_a_reminder_refused_before_nine_and_redelivered_after_waits_too(aws, register, monkeypatch) -> None:
    item = event("ap1", "reminder")
    freeze(monkeypatch, at(20, 59))
    with monkeypatch.context() as patch:
        patch.setattr(sms, "_sender", Refusing())
        assert handle_batch([("m1", body_of(item))], SmsNotifier())["batchItemFailures"]
    assert marks.sms_mark(item.event_id).state == "released"  # type: ignore[union-attr]
    freeze(monkeypatch, at(21, 1))
    assert deliver_twice(item) == []
    assert marks.sms_mark(item.event_id).state == "deferred"  # type: ignore[union-attr]
    freeze(monkeypatch, at(8, 0, day=5))
    assert sms.send_due() == 1 and len(captured()) == 1


def test_other_kinds_go_at_once_at_night(aws, register, monkeypatch) -> None:
    freeze(monkeypatch, at(23, 0))
    assert len(deliver_twice(event("ap1", "cancelled"))) == 1


def test_a_deferred_reminder_refused_at_eight_is_tried_again_and_dropped_when_late(aws, register, monkeypatch):
    item = event("ap1", "reminder")
    freeze(monkeypatch, at(22, 30))
    deliver_twice(item)
    register.down = 1
    freeze(monkeypatch, at(8, 0, day=5))
    assert sms.send_due() == 0  # KRR down: back in the list, 5 minutes on
    assert marks.sms_mark(item.event_id).state == "deferred"  # type: ignore[union-attr]
    freeze(monkeypatch, at(8, 5, day=5))
    assert sms.send_due() == 1 and len(captured()) == 1

    late = event("ap2", "reminder")
    freeze(monkeypatch, at(22, 30))
    deliver_twice(late)
    freeze(monkeypatch, at(15, 0, day=5))  # the schedule was down all morning
    assert sms.send_due() == 0
    assert marks.sms_mark(late.event_id).state == "skipped"  # type: ignore[union-attr]
    assert len(captured()) == 1


def test_the_stage_chooses_the_notifier(monkeypatch) -> None:
    from chalicelib import settings
    from chalicelib.messaging import notify

    monkeypatch.delenv("NOTIFIER", raising=False)
    settings.reset()
    assert isinstance(notify.notifier(), notify.LoggingNotifier)
    monkeypatch.setenv("NOTIFIER", "sms")
    settings.reset()
    assert isinstance(notify.notifier(), SmsNotifier)
    monkeypatch.delenv("NOTIFIER")
    settings.reset()


def test_one_person_gets_at_most_the_daily_limit(aws, register, monkeypatch) -> None:
    """A loop of booking and cancelling must not spend everyone's SMS: the inbox still has all."""
    monkeypatch.setattr(sms, "DAILY_LIMIT", 2)
    freeze(monkeypatch, at(12, 0))
    items = [event(f"ap{n}", "cancelled") for n in range(3)]
    for n, item in enumerate(items):
        assert handle_batch([(f"m{n}", body_of(item))], SmsNotifier()) == {"batchItemFailures": []}
    assert len(captured()) == 2 and len(repository.inbox_of([PID])) == 3
    assert marks.sms_mark(items[2].event_id).detail["why"] == "daily limit"  # type: ignore[union-attr]
    freeze(monkeypatch, at(12, 0, day=5))  # a new day in Oslo
    assert handle_batch([("m9", body_of(event("ap9", "cancelled")))], SmsNotifier()) == {"batchItemFailures": []}
    assert len(captured()) == 3


def test_two_deliveries_at_once_send_one_sms(aws, monkeypatch) -> None:
    """SQS hands the same message to two consumers at once (a visibility timeout ran out): both
    find no mark and ask KRR; the second finishes first; the first then loses the claim."""
    item = event("ap1", "confirmed")
    outcomes: list[str] = []
    nested: list[bool] = []

    def lookup(pid: str) -> krr.Contact:
        if not nested:  # the first delivery is inside KRR when the second runs whole
            nested.append(True)
            outcomes.append(sms.send_for_event(item.event_id, "confirmed", PID, "ap1", item.message["payload"]))
        return krr.Contact(PID, "AKTIV", False, MOBILE)

    monkeypatch.setattr(sms, "krr_contact", lookup)
    outcomes.append(sms.send_for_event(item.event_id, "confirmed", PID, "ap1", item.message["payload"]))
    assert outcomes == ["sent", "taken"] and len(captured()) == 1
