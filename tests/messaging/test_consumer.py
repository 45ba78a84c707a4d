"""The consumer: each event becomes exactly one inbox message, however often SQS delivers it."""

from __future__ import annotations

from datetime import timedelta

from chalice.app import SQSEvent

from chalicelib import clock
from chalicelib.messaging import consumer
from chalicelib.messaging.consumer import deliver, handle_batch, records_of
from chalicelib.storage import repository
from chalicelib.storage.models import InboxMessageItem
from tests.factories import make_pid
from tests.messaging.conftest import PHONE, PID, RecordingNotifier, body_of, event, event_message, logged


def test_deliver_writes_the_inbox_message_once_and_notifies_once(aws):
    item = event("ap1", "rejected", reason="Ingen kapasitet")
    notifier = RecordingNotifier()

    assert deliver(event_message(item), notifier) is True
    assert deliver(event_message(item), notifier) is False

    (message,) = repository.inbox_of([PID])
    assert (message.id, message.appointment_id, message.kind) == (item.event_id, "ap1", "rejected")
    assert message.created_at == item.created_at
    assert message.title == "Timebestillingen er avslått"
    assert "Begrunnelse: Ingen kapasitet" in message.body
    assert PID not in message.body and PHONE not in message.body
    assert notifier.sent == [("rejected", "ap1")]


def test_fault_consumer_failing_mid_batch_then_the_batch_redelivered_gives_one_message_each(aws, monkeypatch):
    events = [event(f"ap{n}", "confirmed") for n in range(5)]
    records = [(f"m{n}", body_of(e)) for n, e in enumerate(events)]
    real_add = repository.add_inbox_message
    failed_once: list[str] = []

    def add_fails_once_for_the_third(item: InboxMessageItem, pid: str) -> bool:
        if item.id == events[2].event_id and not failed_once:
            failed_once.append(item.id)
            raise RuntimeError("throttled")
        return real_add(item, pid)

    monkeypatch.setattr(repository, "add_inbox_message", add_fails_once_for_the_third)
    notifier = RecordingNotifier()

    assert handle_batch(records, notifier) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert len(repository.inbox_of([PID])) == 4

    # SQS hands the batch back whole (e.g. the function timed out after reporting): all five again.
    assert handle_batch(records, notifier) == {"batchItemFailures": []}

    inbox = repository.inbox_of([PID])
    assert len(inbox) == 5
    assert sorted(m.id for m in inbox) == sorted(e.event_id for e in events)
    assert sorted(appointment for _, appointment in notifier.sent) == [f"ap{n}" for n in range(5)]


def test_a_failing_notifier_neither_fails_the_message_nor_repeats_on_redelivery(aws, messaging_log):
    item = event("ap1", "confirmed")
    broken = RecordingNotifier(fail=lambda _: True)
    assert handle_batch([("m1", body_of(item))], broken) == {"batchItemFailures": []}
    assert len(repository.inbox_of([PID])) == 1
    assert "notification for event" in logged(messaging_log)
    assert PID not in logged(messaging_log) and "gateway down" not in logged(messaging_log)
    working = RecordingNotifier()
    assert handle_batch([("m1", body_of(item))], working) == {"batchItemFailures": []}
    assert working.sent == []


def test_garbage_is_a_failure_and_does_not_stop_the_batch(aws):
    good = event("ap1", "confirmed")
    answer = handle_batch([("bad1", "{not json"), ("bad2", '{"kind": "confirmed"}'), ("ok", body_of(good))])
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad1"}, {"itemIdentifier": "bad2"}]}
    assert [m.id for m in repository.inbox_of([PID])] == [good.event_id]


def test_after_a_failure_the_same_appointments_later_messages_wait(aws, monkeypatch):
    requested, confirmed, other = event("apA", "requested"), event("apA", "confirmed"), event("apB", "confirmed")
    real_add = repository.add_inbox_message

    def fails_for_requested(item: InboxMessageItem, pid: str) -> bool:
        if item.id == requested.event_id:
            raise RuntimeError("throttled")
        return real_add(item, pid)

    monkeypatch.setattr(repository, "add_inbox_message", fails_for_requested)
    answer = handle_batch([("m1", body_of(requested)), ("m2", body_of(confirmed)), ("m3", body_of(other))])
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert [m.id for m in repository.inbox_of([PID])] == [other.event_id]


def test_inbox_of_lists_newest_first_across_people(aws):
    other_pid = make_pid(12)
    made = []
    for n, (pid, kind) in enumerate([(PID, "requested"), (other_pid, "confirmed"), (PID, "reminder")]):
        item = event(f"ap{n}", kind, pid=pid)
        made.append(item.event_id)
        assert deliver(event_message(item), RecordingNotifier())
        clock.advance(timedelta(minutes=1))
    assert [m.id for m in repository.inbox_of([PID, other_pid, PID])] == made[::-1]
    assert [m.id for m in repository.inbox_of([PID])] == [made[2], made[0]]
    assert repository.inbox_of([make_pid(13)]) == []


def test_records_of_a_chalice_sqs_event_and_of_the_raw_lambda_event():
    raw = {
        "Records": [
            {"messageId": "m1", "receiptHandle": "r1", "body": "one", "attributes": {}},
            {"messageId": "m2", "receiptHandle": "r2", "body": "two", "attributes": {}},
        ]
    }
    assert records_of(SQSEvent(raw, None)) == [("m1", "one"), ("m2", "two")]
    assert records_of(raw) == [("m1", "one"), ("m2", "two")]
    assert records_of({"Records": []}) == []


def test_the_configured_notifier_is_used_by_default(aws, monkeypatch):
    notifier = RecordingNotifier()
    monkeypatch.setattr(consumer, "configured_notifier", lambda: notifier)
    assert handle_batch([("m1", body_of(event("ap1", "cancelled")))]) == {"batchItemFailures": []}
    assert notifier.sent == [("cancelled", "ap1")]


def test_the_logging_notifier_logs_nothing_personal(messaging_log):
    from chalicelib.messaging.notify import LoggingNotifier, notifier

    assert isinstance(notifier(), LoggingNotifier)
    notifier().notify(PID, "confirmed", "Timen er bekreftet", f"ring {PHONE}", "ap1")
    text = logged(messaging_log)
    assert "confirmed" in text and "ap1" in text
    assert PID not in text and PHONE not in text and "bekreftet" not in text
