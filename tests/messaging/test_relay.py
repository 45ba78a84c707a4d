"""The stream relay: every committed change reaches the FIFO queue once, in order per
appointment, and SQS failures lose nothing (issue 10, docs/outbox.md)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import settings
from chalicelib.booking.events import change_event
from chalicelib.domain.slots import SlotRef
from chalicelib.local import stream
from chalicelib.messaging import publisher as publisher_module
from chalicelib.messaging.consumer import handle_batch
from chalicelib.messaging.local_consumer import drain_queue
from chalicelib.messaging.publisher import SqsPublisher, parse_message
from chalicelib.messaging.relay import handle_records, message_of
from chalicelib.storage import repository
from chalicelib.storage.models import AppointmentItem
from tests.conftest import moto_table
from tests.helpers import relay_stream, stream_messages
from tests.messaging.conftest import PHONE, PID, Event, appointment, carrying, logged, receive_all, stored_events


def refuse(*_: object, **__: object) -> None:
    raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "SendMessage")


def test_committed_changes_reach_the_queue_in_their_appointments_group(aws, sqs):
    events = stored_events(3)

    result = relay_stream()

    assert (result.handed, result.failed) == (3, 0)
    messages = receive_all(sqs, aws["queue_url"])
    by_event = {parse_message(m["Body"])["event_id"]: m for m in messages}
    assert set(by_event) == {e.event_id for e in events}
    for item in events:
        message = by_event[item.event_id]
        assert message["Attributes"]["MessageGroupId"] == item.appointment_id
        assert message["Attributes"]["MessageDeduplicationId"] == item.event_id
        assert parse_message(message["Body"]) == item.message
    assert relay_stream().handed == 0  # read once


def test_the_event_id_and_time_come_from_the_item(aws):
    item = carrying(appointment("apX"), "rejected")
    item.version, item.reason, item.status = 3, "Ingen kapasitet", "rejected"
    (message,) = [m for m in [message_of(_record(item))] if m]
    assert message["event_id"] == "apX.0003.rejected"
    assert message["created_at"] == item.updated_at
    assert message["payload"]["reason"] == "Ingen kapasitet" and message["payload"]["for_pid"] == PID
    reminder = carrying(appointment("apX"), "reminder", t="2022-10-04T17:00:00+02:00")
    reminder.version = 3
    assert message_of(_record(reminder))["event_id"] == "apX.0003.reminder"  # type: ignore[index]
    assert message_of(_record(reminder))["created_at"] == "2022-10-04T17:00:00+02:00"  # type: ignore[index]
    assert message_of(_record(appointment("apY"))) is None  # an item without an event
    assert message_of({**_record(item), "eventName": "REMOVE"}) is None


def _record(item: AppointmentItem, sequence: str = "1") -> dict[str, Any]:
    repository._prepare_appointment(item)
    image = item.serialize()
    return {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": sequence, "NewImage": image}}


def test_the_queue_url_comes_from_the_environment(aws, monkeypatch):
    assert SqsPublisher().queue_url == aws["queue_url"]
    assert SqsPublisher("https://example/q.fifo").queue_url == "https://example/q.fifo"
    monkeypatch.delenv("EVENTS_QUEUE_URL")
    settings.reset()
    with pytest.raises(ValueError):
        SqsPublisher()


def test_fault_sqs_refusing_sends_loses_no_message(aws, sqs, monkeypatch, messaging_log):
    events = stored_events(4)  # committed with their changes: the DynamoDB side is done
    monkeypatch.setattr(SqsPublisher, "send", refuse)

    first = relay_stream()
    again = relay_stream()  # Lambda retries the batch from the failed record

    assert (first.handed, first.failed) == (4, 1) and again.failed == 1
    assert receive_all(sqs, aws["queue_url"]) == []
    assert PID not in logged(messaging_log) and PHONE not in logged(messaging_log)
    assert "ServiceUnavailable" in logged(messaging_log)

    monkeypatch.undo()  # SQS is back
    assert relay_stream().failed == 0
    assert relay_stream().handed == 0

    drained = drain_queue(aws["queue_url"], handle_batch, max_rounds=5)
    assert (drained.received, drained.deleted, drained.failed) == (4, 4, 0)
    inbox = repository.inbox_of([PID])
    assert sorted(m.id for m in inbox) == sorted(e.event_id for e in events)
    assert all(m.kind == "confirmed" and "Din timereservasjon er bekreftet." in m.body for m in inbox)


class FlakyPublisher:
    """Refuses each of the named events once; remembers what it sent, in order."""

    def __init__(self, refuse_once: set[str]) -> None:
        self.refuse_once = set(refuse_once)
        self.sent: list[str] = []

    def publish(self, message: dict[str, Any]) -> None:
        if message["event_id"] in self.refuse_once:
            self.refuse_once.discard(message["event_id"])
            raise ConnectionError("no route")
        self.sent.append(message["event_id"])


def _change(item: AppointmentItem, kind: str) -> Event:
    """Write a change of the appointment with its event (version bumped), as change_appointment does."""
    item.version = int(item.version) + 1
    carrying(item, kind)
    item.save()
    message = message_of(_record(item))
    assert message is not None
    return Event(message)


def test_a_batch_failing_midway_retries_from_the_failed_record_and_keeps_each_appointments_order(aws):
    a, b = appointment("apA"), appointment("apB")
    repository._prepare_appointment(a)
    repository._prepare_appointment(b)
    written = [_change(a, "requested"), _change(b, "confirmed"), _change(a, "confirmed"), _change(b, "cancelled")]
    flaky = FlakyPublisher({written[1].event_id})
    through_flaky = lambda event: handle_records(event["Records"], flaky)  # noqa: E731

    first = relay_stream(through_flaky)
    assert first.failed == 1
    assert flaky.sent == [written[0].event_id]  # stopped at the failed record: nothing overtook it

    assert relay_stream(through_flaky).failed == 0  # read again from the failed record
    assert flaky.sent == [e.event_id for e in written]  # each sent once, in stream order
    assert relay_stream(through_flaky).handed == 0


def test_a_handler_that_fails_as_a_whole_gets_the_batch_again(aws):
    stored_events(2)

    def crash(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("cold start failed")

    assert relay_stream(crash).failed == 1
    assert len(stream_messages()) == 2


def test_a_redelivered_record_makes_one_inbox_message(aws, sqs):
    events = stored_events(2)
    assert relay_stream().handed == 2
    stream.reset()  # a fresh reader: the whole stream again, as after a retried batch
    assert relay_stream().handed == 2
    # Past SQS's deduplication window the same event is sent under another deduplication id.
    SqsPublisher().client.send_message(
        QueueUrl=aws["queue_url"],
        MessageBody=json.dumps(events[0].message),
        MessageGroupId=events[0].appointment_id,
        MessageDeduplicationId="later-resend",
    )
    drain_queue(aws["queue_url"], handle_batch, max_rounds=5, visibility_timeout=0)
    assert sorted(m.id for m in repository.inbox_of([PID])) == sorted(e.event_id for e in events)


def test_a_cancelled_transaction_leaves_no_stream_record(aws):
    """No event without its change: the appointment part is written first and undone when a
    later part's condition fails; the stream must not keep its record (chalicelib/local/moto_patches.py)."""
    (stored,) = stored_events(1)
    assert len(stream_messages()) == 1
    item = repository.get_appointment(stored.appointment_id, consistent=True)
    assert item is not None
    records_before = len(moto_table().stream_shard.items)
    nowhere = SlotRef("tb1", "loc1", datetime(2022, 10, 5, 13, 30))  # no such slot: its condition fails
    change = repository.Change(
        appointment=item,
        expected_status=["booked"],
        expected_version=int(item.version),
        status="cancelled",
        updated_at=item.updated_at,
        event=change_event("cancelled"),
        free=(nowhere, 0),
    )
    with pytest.raises(repository.ConditionFailed) as lost:
        repository.change_appointment(change, 0)
    assert lost.value.failed == ["free"]
    assert len(moto_table().stream_shard.items) == records_before
    assert stream_messages() == []
    assert repository.get_appointment(item.id, consistent=True).status == "booked"  # type: ignore[union-attr]


def test_the_default_publisher_follows_the_environment(aws, sqs, monkeypatch):
    settings.reset()
    one = publisher_module.default_publisher()
    assert publisher_module.default_publisher() is one
    stored_events(1)
    assert relay_stream().failed == 0
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
