"""Against moto's SQS: a message that always fails ends in the dead-letter queue; the local
poller does what Lambda's event source does."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.messaging.consumer import handle_batch
from chalicelib.messaging.local_consumer import DrainResult, drain_queue
from chalicelib.messaging.publisher import SqsPublisher
from chalicelib.storage import repository
from tests.helpers import relay_stream
from tests.messaging.conftest import PID, body_of, event, receive_all, stored_events


def max_receive_count(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    return int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])


def send_garbage(sqs: Any, queue_url: str) -> None:
    sqs.send_message(
        QueueUrl=queue_url, MessageBody="{garbage", MessageGroupId="g1", MessageDeduplicationId="garbage-1"
    )


def test_fault_a_message_that_always_fails_ends_in_the_dead_letter_queue(aws, sqs):
    queue, dlq = aws["queue_url"], aws["dead_letter_queue_url"]
    assert max_receive_count(sqs, queue) == 5  # infra/resources.yaml
    send_garbage(sqs, queue)
    good = event("ap1", "confirmed")
    SqsPublisher().publish(good.message)

    receives = 0
    for _ in range(max_receive_count(sqs, queue) + 1):
        messages = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
        ).get("Messages", [])
        if not messages:
            break
        answer = handle_batch([(m["MessageId"], m["Body"]) for m in messages])
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        receives += sum(1 for m in messages if m["MessageId"] in failed)
        for message in messages:  # as Lambda does with ReportBatchItemFailures
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    assert receives == 5  # tried maxReceiveCount times, then moved on the next receive
    assert receive_all(sqs, queue) == []
    (dead,) = receive_all(sqs, dlq)
    assert dead["Body"] == "{garbage"
    assert [m.id for m in repository.inbox_of([PID])] == [good.event_id]  # the good one was delivered


def test_drain_queue_delivers_relayed_events_and_deletes_them(aws, sqs):
    events = stored_events(12)  # more than one batch of 10
    assert relay_stream().handed == 12

    result = drain_queue(aws["queue_url"], handle_batch, max_rounds=5)

    assert result == DrainResult(received=12, deleted=12, failed=0)
    assert sorted(m.id for m in repository.inbox_of([PID])) == sorted(e.event_id for e in events)
    assert receive_all(sqs, aws["queue_url"]) == []
    assert drain_queue(aws["queue_url"], handle_batch, max_rounds=5) == DrainResult()


def test_drain_queue_leaves_failures_for_redelivery_after_the_visibility_timeout(aws, sqs):
    send_garbage(sqs, aws["queue_url"])
    SqsPublisher().publish(event("ap1", "confirmed").message)

    # The queue's own visibility timeout (60 s): the failure is not seen again in this drain.
    assert drain_queue(aws["queue_url"], handle_batch, max_rounds=5) == DrainResult(received=2, deleted=1, failed=1)
    assert drain_queue(aws["queue_url"], handle_batch, max_rounds=5) == DrainResult()


def test_drain_queue_sends_a_poison_message_to_the_dead_letter_queue(aws, sqs):
    send_garbage(sqs, aws["queue_url"])
    result = drain_queue(aws["queue_url"], handle_batch, max_rounds=10, visibility_timeout=0)
    assert result == DrainResult(received=5, deleted=0, failed=5)
    assert [m["Body"] for m in receive_all(sqs, aws["dead_letter_queue_url"])] == ["{garbage"]


def test_drain_queue_keeps_the_whole_batch_when_the_handler_itself_fails(aws, sqs):
    SqsPublisher().publish(event("ap1", "confirmed").message)

    def crash(records: list[tuple[str, str]]) -> dict[str, Any]:
        raise RuntimeError("cold start failed")

    assert drain_queue(aws["queue_url"], crash, max_rounds=1, visibility_timeout=0) == DrainResult(1, 0, 1)
    assert drain_queue(aws["queue_url"], handle_batch, max_rounds=1) == DrainResult(1, 1, 0)
    assert len(repository.inbox_of([PID])) == 1


def test_a_redelivered_duplicate_through_the_queue_is_written_once(aws, sqs):
    item = event("ap1", "confirmed")
    SqsPublisher().publish(item.message)
    # Past the FIFO deduplication window the same event arrives again under a new deduplication id.
    sqs.send_message(
        QueueUrl=aws["queue_url"],
        MessageBody=body_of(item),
        MessageGroupId="ap1",
        MessageDeduplicationId="later-resend",
    )
    assert drain_queue(aws["queue_url"], handle_batch, max_rounds=5) == DrainResult(2, 2, 0)
    assert [m.id for m in repository.inbox_of([PID])] == [item.event_id]
