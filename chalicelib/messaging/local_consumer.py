"""Locally, what Lambda's SQS event source does in AWS: poll, call the handler, delete successes.

Lambda receives up to 10 messages, calls the function with them, and (with
ReportBatchItemFailures) deletes all but those named in `batchItemFailures`; those become visible
again after the visibility timeout and count towards the dead-letter queue's maxReceiveCount.
`drain_queue` does the same against the local stand-in, so the local runner exercises the very
handler Lambda calls (the runner calls it every second).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.messaging.errors import error_name
from chalicelib.messaging.publisher import sqs_client

logger = logging.getLogger("timebok.messaging.local")

BatchHandler = Callable[[list[tuple[str, str]]], Mapping[str, Any]]

BATCH_SIZE = 10  # SQS's most per ReceiveMessage, Lambda's default for SQS


@dataclass
class DrainResult:
    received: int = 0
    deleted: int = 0
    failed: int = 0


def drain_queue(
    queue_url: str,
    handler: BatchHandler,
    max_rounds: int = 10,
    *,
    client: Any = None,
    visibility_timeout: int | None = None,
) -> DrainResult:
    """Receive and handle batches until the queue has nothing visible, or `max_rounds` batches.

    Failures are left in the queue (not deleted, visibility unchanged) exactly as Lambda leaves
    them; `visibility_timeout` overrides the queue's own for the receive (tests use 0).
    """
    sqs = client if client is not None else sqs_client()
    result = DrainResult()
    receive: dict[str, Any] = {"QueueUrl": queue_url, "MaxNumberOfMessages": BATCH_SIZE, "WaitTimeSeconds": 0}
    if visibility_timeout is not None:
        receive["VisibilityTimeout"] = visibility_timeout
    for _ in range(max_rounds):
        messages = sqs.receive_message(**receive).get("Messages", [])
        if not messages:
            break
        result.received += len(messages)
        try:
            answer = handler([(m["MessageId"], m["Body"]) for m in messages])
        except Exception as error:  # the function failed as a whole: Lambda hands the whole batch back
            logger.error(
                "local consumer: handler failed (%s); %d messages stay in the queue", error_name(error), len(messages)
            )
            result.failed += len(messages)
            continue
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        result.failed += len(messages) - len(done)
        if done:
            response = sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            result.deleted += len(response.get("Successful", []))
            for error in response.get("Failed", []):
                logger.warning("local consumer: could not delete a message (%s)", error.get("Code"))
    return result
