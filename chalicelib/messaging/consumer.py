"""The SQS consumer: turns each event into the citizen's inbox message, exactly once.

SQS delivers at least once (a redelivered batch, a relay that sent twice after the FIFO
deduplication window). The inbox message's key is made from the event (its created_at and id)
and written with a does-not-exist condition, so a repeat writes nothing and notifies nobody.

A batch reports partial failure (`batchItemFailures`): only the messages that failed come back,
after the visibility timeout; one that keeps failing (garbage, a bug) goes to the dead-letter
queue after the queue's maxReceiveCount. Within a batch, once a message of an appointment fails,
the later messages of that appointment are handed back too, untried, so they stay in order (as
AWS advises for FIFO queues: Powertools' SqsFifoPartialProcessor, batches.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.messaging.batches import Undelivered, process_fifo, sqs_record
from chalicelib.messaging.errors import RetryLater, error_name
from chalicelib.messaging.notify import Notifier
from chalicelib.messaging.notify import notifier as configured_notifier
from chalicelib.messaging.publisher import NOT_FOR_INBOX, parse_message
from chalicelib.messaging.texts import inbox_text
from chalicelib.storage import repository
from chalicelib.storage.models import InboxMessageItem

logger = logging.getLogger("timebok.messaging.consumer")


def deliver(message: Mapping[str, Any], notifier: Notifier | None = None) -> bool:
    """Write the event's inbox message; True if written now, False if it was there already.

    The notification follows the stored message. A notifier that keeps its own once-only mark
    (`exactly_once`: the SMS notifier) is asked again on a redelivery, so a send it refused with
    RetryLater is tried again (the message fails, SQS redelivers it; the dead-letter queue after
    maxReceiveCount). Any other failure is logged, not retried: a citizen may miss a nudge but
    never gets the same one twice from a redelivery.
    """
    if message["kind"] in NOT_FOR_INBOX:
        return False  # «Møtt» / «Ikke møtt»: for Helsenorge, not the citizen's inbox
    payload = message["payload"]
    pid = payload["for_pid"]
    title, body = inbox_text(message["kind"], payload)
    item = InboxMessageItem(
        id=message["event_id"],
        appointment_id=message["appointment_id"],
        kind=message["kind"],
        title=title,
        body=body,
        created_at=message["created_at"],
    )
    new = repository.add_inbox_message(item, pid)
    if not new:
        logger.info("consumer: event %s (%s) already in the inbox", message["event_id"], message["kind"])
    chosen = notifier or configured_notifier()
    if not new and not getattr(chosen, "exactly_once", False):
        return False
    try:
        chosen.notify(
            pid,
            message["kind"],
            title,
            body,
            message["appointment_id"],
            event_id=message["event_id"],
            payload=payload,
        )
    except RetryLater:
        raise  # handle_batch fails the message: SQS delivers it again
    except Exception as error:
        logger.warning(
            "consumer: notification for event %s (%s) failed (%s)",
            message["event_id"],
            message["kind"],
            error_name(error),
        )
    return new


def handle_batch(records: Iterable[tuple[str, str]], notifier: Notifier | None = None) -> dict[str, Any]:
    """Deliver (message_id, body) pairs; the answer names the failed ones for SQS to redeliver
    (and the later ones of a failed appointment, held back untried: batches.py)."""

    def handle(record: Any) -> None:
        try:
            message = parse_message(record.body)
        except ValueError:
            logger.error("consumer: message %s is not a Timebok event", record.message_id)
            raise Undelivered("not a Timebok event") from None
        try:
            deliver(message, notifier)
        except Exception as error:
            logger.warning(
                "consumer: event %s (%s) failed (%s); it will be redelivered",
                message["event_id"],
                message["kind"],
                error_name(error),
            )
            raise Undelivered(error_name(error)) from None

    failed = process_fifo([sqs_record(message_id, body) for message_id, body in records], handle)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def records_of(event: Any) -> list[tuple[str, str]]:
    """(message_id, body) pairs of a Chalice SQSEvent, or of the raw Lambda event dict."""
    if isinstance(event, Mapping):
        return [(record["messageId"], record["body"]) for record in event.get("Records", [])]
    return [(record.to_dict()["messageId"], record.body) for record in event]
