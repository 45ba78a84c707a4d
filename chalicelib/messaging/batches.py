"""An SQS FIFO batch, as AWS advises for one: Powertools' `SqsFifoPartialProcessor`.

Each record is handled in order; a failure is reported in `batchItemFailures` (SQS hands back only
those, after the visibility timeout), and once a message of a group fails, the group's later
messages in the batch are handed back untried, so they stay in order; other groups go on.

Our message group is the appointment (`publisher.SqsPublisher` sets MessageGroupId to it), so
the group is read from the message itself: the same on Lambda as in the local consumer, whose
records carry no attributes. A message we cannot read fails alone (it names no group).

Powertools is imported here, on the SQS handlers' path only: the API's cold start never loads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chalicelib.messaging.publisher import parse_message


class Undelivered(Exception):
    """A record's handling failed; carries only the failure's name (error_name), nothing personal."""


def group_of(body: str) -> str:
    """The message group of a body: its appointment; "" for a body that is not one of ours."""
    try:
        return str(parse_message(body)["appointment_id"])
    except ValueError:
        return ""


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    """A record as Lambda's SQS event source hands it over (what the processor reads of it)."""
    return {"messageId": message_id, "body": body, "attributes": {"MessageGroupId": group_of(body)}}


def process_fifo(records: Iterable[Mapping[str, Any]], handle: Callable[[Any], None]) -> list[str]:
    """Handle each record (a Powertools `SQSRecord`: `.message_id`, `.body`, ...) in order; the
    message ids of the failed and of the held-back records, in batch order."""
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor

    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    processor.raise_on_entire_batch_failure = False  # a batch that fails whole is reported, as any other

    def handler(record: Any) -> None:  # Powertools passes it by this keyword
        handle(record)

    with processor([dict(record) for record in records], handler):
        processor.process()
    return [failure["itemIdentifier"] for failure in processor.response()["batchItemFailures"]]
