"""The outbox relay: committed events reach the FIFO queue, and SQS failures lose nothing."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from chalicelib import settings
from chalicelib.messaging import publisher as publisher_module
from chalicelib.messaging.consumer import handle_batch
from chalicelib.messaging.local_consumer import drain_queue
from chalicelib.messaging.publisher import SqsPublisher, event_message, parse_message
from chalicelib.messaging.relay import RelayResult, relay_events, relay_now, relay_pending
from chalicelib.storage import repository
from chalicelib.storage.models import OutboxItem
from tests.messaging.conftest import PHONE, PID, event, logged, receive_all, stored_events


def refuse(**_: object) -> None:
    raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "SendMessage")


def test_committed_events_reach_the_queue_in_their_appointments_group_and_leave_the_outbox(aws, sqs):
    events = stored_events(3)
    assert len(repository.pending_events()) == 3

    result = relay_pending(SqsPublisher())

    assert result == RelayResult(sent=3, failed=0)
    assert repository.pending_events() == []
    messages = receive_all(sqs, aws["queue_url"])
    by_event = {parse_message(m["Body"])["event_id"]: m for m in messages}
    assert set(by_event) == {e.event_id for e in events}
    for item in events:
        message = by_event[item.event_id]
        assert message["Attributes"]["MessageGroupId"] == item.appointment_id
        assert message["Attributes"]["MessageDeduplicationId"] == item.event_id
        assert parse_message(message["Body"]) == event_message(item)


def test_the_queue_url_comes_from_the_environment(aws, monkeypatch):
    assert SqsPublisher().queue_url == aws["queue_url"]
    assert SqsPublisher("https://example/q.fifo").queue_url == "https://example/q.fifo"
    monkeypatch.delenv("EVENTS_QUEUE_URL")
    settings.reset()
    with pytest.raises(ValueError):
        SqsPublisher()


def test_fault_sqs_refusing_sends_after_the_commit_loses_no_message(aws, sqs, monkeypatch, messaging_log):
    events = stored_events(4)  # committed with their state changes: the DynamoDB side is done
    publisher = SqsPublisher()
    monkeypatch.setattr(publisher.client, "send_message", refuse)

    assert relay_now(events[:1], publisher) == RelayResult(sent=0, failed=1)  # the request's own try
    assert relay_pending(publisher) == RelayResult(sent=0, failed=4)  # the schedule, SQS still down

    assert {e.event_id for e in repository.pending_events()} == {e.event_id for e in events}
    assert receive_all(sqs, aws["queue_url"]) == []
    assert PID not in logged(messaging_log) and PHONE not in logged(messaging_log)
    assert events[0].event_id in logged(messaging_log) and "ServiceUnavailable" in logged(messaging_log)

    monkeypatch.undo()  # SQS is back
    assert relay_pending(publisher) == RelayResult(sent=4, failed=0)
    assert repository.pending_events() == []
    assert relay_pending(publisher) == RelayResult()

    drained = drain_queue(aws["queue_url"], handle_batch, max_rounds=5)
    assert (drained.received, drained.deleted, drained.failed) == (4, 4, 0)
    inbox = repository.inbox_of([PID])
    assert sorted(m.id for m in inbox) == sorted(e.event_id for e in events)
    assert all(m.kind == "confirmed" and "Din timereservasjon er bekreftet." in m.body for m in inbox)


def test_a_send_whose_delete_failed_is_sent_again_and_delivered_once(aws, sqs, monkeypatch):
    (item,) = stored_events(1)
    real_delete = repository.delete_event
    calls = {"n": 0}

    def delete_fails_once(event: OutboxItem) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("DynamoDB hiccup")
        real_delete(event)

    monkeypatch.setattr(repository, "delete_event", delete_fails_once)
    publisher = SqsPublisher()
    assert relay_pending(publisher) == RelayResult(sent=0, failed=1)  # sent, but still in the outbox
    assert relay_pending(publisher) == RelayResult(sent=1, failed=0)  # sent again, then deleted

    messages = receive_all(sqs, aws["queue_url"])
    assert len(messages) == 1  # FIFO deduplication by event id
    # Even past the deduplication window, the consumer writes the message once.
    records = [(m["MessageId"], m["Body"]) for m in messages]
    assert handle_batch([*records, ("again", messages[0]["Body"])]) == {"batchItemFailures": []}
    assert [m.id for m in repository.inbox_of([PID])] == [item.event_id]


class FlakyPublisher:
    """Refuses the events of some appointments; remembers what it sent, in order."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = refused
        self.sent: list[str] = []

    def publish(self, event: OutboxItem) -> None:
        if event.event_id in self.refused:
            raise ConnectionError("no route")
        self.sent.append(event.event_id)


def test_one_failure_does_not_stop_the_others_but_holds_back_its_appointments_later_events(aws):
    first = repository.prepare_outbox(event("apA", "requested"))
    later = repository.prepare_outbox(event("apA", "confirmed"))
    other = repository.prepare_outbox(event("apB", "confirmed"))
    publisher = FlakyPublisher({first.event_id})

    result = relay_events([first, later, other], publisher)

    assert result == RelayResult(sent=1, failed=2)
    assert publisher.sent == [other.event_id]  # apA's confirmation waits for its request


def test_relay_now_never_fails_the_request(aws, monkeypatch):
    monkeypatch.delenv("EVENTS_QUEUE_URL")
    settings.reset()
    item = repository.prepare_outbox(event())
    item.save()
    assert relay_now([item]) == RelayResult(sent=0, failed=1)
    assert [e.event_id for e in repository.pending_events()] == [item.event_id]


def test_the_default_publisher_follows_the_environment(aws, sqs, monkeypatch):
    settings.reset()
    one = publisher_module.default_publisher()
    assert publisher_module.default_publisher() is one
    stored_events(1)
    assert relay_pending() == RelayResult(sent=1, failed=0)
    assert len(receive_all(sqs, aws["queue_url"])) == 1
    monkeypatch.setenv("EVENTS_QUEUE_URL", aws["dead_letter_queue_url"])
    settings.reset()
    assert publisher_module.default_publisher().queue_url == aws["dead_letter_queue_url"]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        json.dumps({"event_id": "e1"}),
        json.dumps({"event_id": "e1", "kind": "confirmed", "appointment_id": "a", "created_at": "t", "payload": []}),
        json.dumps({"event_id": "e1", "kind": "booked", "appointment_id": "a", "created_at": "t", "payload": {}}),
        json.dumps({"event_id": "e1", "kind": "confirmed", "appointment_id": "a", "created_at": "t", "payload": {}}),
        json.dumps(
            {"event_id": "", "kind": "confirmed", "appointment_id": "a", "created_at": "t", "payload": {"for_pid": "x"}}
        ),
    ],
)
def test_parse_message_refuses_garbage(body):
    with pytest.raises(ValueError):
        parse_message(body)
