"""Helsenorge «Timeavtaler»: every appointment change is PUT there as an R4 Appointment.

Path: the change's event (on the appointment item) → the table's stream → the relay → the
Helsenorge SQS FIFO queue (group = the appointment, so one appointment's sends stay in order;
`publisher.HelsenorgePublisher` puts them there) → `send_batch` → `PUT
{HELSENORGE_APPOINTMENT_URL}/Appointment/{id}` with a bearer token.

Exactly-once effect: a message only says "appointment X changed"; the sender reads the
appointment as it is now and sends that, with its version in meta.versionId. A resend, a
redelivery or an old message arriving late therefore sends the newest state again (a harmless
repeat of an idempotent PUT), never an older one. Helsenorge is not the source system: we keep
sending until it answers 2xx. A failed send (5xx, timeout, no token; also 401, 408 and 429) is
retried with exponential backoff (the message's visibility timeout grows with its receive count);
after maxReceiveCount it waits in the dead-letter queue, which has an alarm. Any other 4xx is
permanent (Helsenorge refuses the resource itself; resending the same state cannot help): the
message goes to the dead-letter queue at once (its alarm fires) and the batch goes on.
No personal data is logged: ids, versions and statuses only.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import settings
from chalicelib.messaging.batches import Undelivered, process_fifo, sqs_record
from chalicelib.messaging.errors import error_name
from chalicelib.messaging.publisher import HelsenorgePublisher as HelsenorgePublisher  # the relay's side
from chalicelib.messaging.publisher import parse_message, sqs_client

logger = logging.getLogger("timebok.messaging.helsenorge")

DEFAULT_RETRY_BASE_SECONDS = 30
MAX_BACKOFF_SECONDS = 900
TIMEOUT_SECONDS = 5


# ---- tokens ------------------------------------------------------------------------------------


class TokenProvider(Protocol):
    def token(self) -> str: ...


class StaticToken:
    """A fixed token (HELSENORGE_STATIC_TOKEN): the local stand-in and tests only."""

    def token(self) -> str:
        value = settings.get().helsenorge_static_token or ""
        if not value:
            raise TokenUnavailable("HELSENORGE_STATIC_TOKEN is not set")
        return value


class HelseIdClientCredentials:
    """Production: a HelseID access token by client credentials (private_key_jwt, DPoP).

    Not implemented yet: it needs the client registration in HelseID selvbetjening, the client's
    private key in Secrets Manager and the Helsenorge scope; docs/standards.md says what. Until
    then every send fails loudly (messages wait in the queue, then the dead-letter queue + alarm)
    instead of pretending to send.
    """

    def token(self) -> str:
        raise TokenUnavailable("HelseID client credentials are not implemented (docs/standards.md)")


class TokenUnavailable(Exception):
    """No token could be had: the send fails and is retried."""


def token_provider() -> TokenProvider:
    name = settings.get().helsenorge_token_provider
    if name == "static":
        return StaticToken()
    return HelseIdClientCredentials()


# ---- the consumer's side: read the appointment, PUT it ------------------------------------------


RETRYABLE_4XX = frozenset({401, 408, 429})  # a stale token, a timeout, too many requests


class SendFailed(Exception):
    def __init__(self, status: int | None, why: str) -> None:
        super().__init__(f"{status} {why}")
        self.status = status

    @property
    def permanent(self) -> bool:
        """Helsenorge refused the resource (4xx but 401/408/429): resending cannot help."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in RETRYABLE_4XX


def put_appointment(resource: Mapping[str, Any], token: str, base_url: str | None = None) -> int:
    """PUT …/Appointment/{id}; returns the status (2xx), raises SendFailed otherwise."""
    base = (base_url or settings.get().helsenorge_appointment_url or "").rstrip("/")
    if not base:
        raise SendFailed(None, "HELSENORGE_APPOINTMENT_URL is not set")
    request = urllib.request.Request(
        f"{base}/Appointment/{resource['id']}",
        data=json.dumps(resource, ensure_ascii=False).encode(),
        method="PUT",
        headers={
            "Content-Type": "application/fhir+json; charset=utf-8",
            "Accept": "application/fhir+json",
            "Authorization": f"Bearer {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        raise SendFailed(error.code, "refused") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise SendFailed(None, type(error).__name__) from None


def send(appointment_id: str, token: TokenProvider | None = None) -> int | None:
    """Send the appointment as it is now; returns the version sent (None: no such appointment)."""
    from chalicelib.fhir.appointment import appointment_resource
    from chalicelib.storage import repository

    item = repository.get_appointment(appointment_id, consistent=True)
    if item is None or item.erased:  # an erasure is not a change to send (issue 23)
        logger.warning("helsenorge: appointment %s not found or erased; nothing to send", appointment_id)
        return None
    resource = appointment_resource(item)
    status = put_appointment(resource, (token or token_provider()).token())
    logger.info("helsenorge: appointment %s version %s sent (%s)", item.id, item.version, status)
    return int(item.version)


@dataclass(frozen=True)
class Record:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1


def backoff_seconds(receive_count: int) -> int:
    """30 s, 1, 2, 4, 8 min, then 15 min per try (HELSENORGE_RETRY_BASE_SECONDS scales it)."""
    base = int(settings.get().helsenorge_retry_base_seconds or DEFAULT_RETRY_BASE_SECONDS)
    return int(min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, min(receive_count - 1, 10))))


def _back_off(records: list[Record], client: Any) -> None:
    """Delay each failed message's next delivery; best effort (the queue's own timeout is the floor)."""
    url = settings.get().helsenorge_queue_url
    if not url or not records:
        return
    for record in records:
        try:
            (client or sqs_client()).change_message_visibility(
                QueueUrl=url,
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=backoff_seconds(record.receive_count),
            )
        except Exception as error:
            logger.warning("helsenorge: could not delay message %s (%s)", record.message_id, error_name(error))


def dead_letter(record: Record, appointment_id: str, client: Any = None) -> None:
    """Move a refused message to the dead-letter queue now (its alarm fires); raises if it cannot."""
    url = settings.get().helsenorge_dead_letter_queue_url
    if not url:
        raise Undelivered("no dead-letter queue")
    (client or sqs_client()).send_message(
        QueueUrl=url,
        MessageBody=record.body,
        MessageGroupId=appointment_id,
        MessageDeduplicationId=f"refused-{record.message_id}"[:128],
    )


def send_batch(records: Iterable[Record], token: TokenProvider | None = None, client: Any = None) -> dict[str, Any]:
    """Send each message's appointment; the answer names the failed messages for SQS to redeliver
    (and the later ones of a failed appointment, held back untried: batches.py)."""
    provider = token or token_provider()
    by_id = {record.message_id: record for record in records}

    def handle(sqs: Any) -> None:
        record = by_id[sqs.message_id]
        try:
            message = parse_message(record.body)
        except ValueError:
            logger.error("helsenorge: message %s is not a Timebok event", record.message_id)
            raise Undelivered("not a Timebok event") from None
        appointment_id = message["appointment_id"]
        try:
            send(appointment_id, provider)
        except SendFailed as error:
            if not error.permanent:
                _retry_later(appointment_id, record, f"SendFailed:{error.status}")
            try:
                dead_letter(record, appointment_id, client)
            except Exception as failure:
                _retry_later(appointment_id, record, f"SendFailed:{error.status}, {error_name(failure)}")
            logger.error(
                "helsenorge: appointment %s refused (%s); moved to the dead-letter queue",
                appointment_id,
                error.status,
            )
        except Exception as error:
            _retry_later(appointment_id, record, error_name(error))

    failed = [
        by_id[message_id]
        for message_id in process_fifo([sqs_record(r.message_id, r.body) for r in by_id.values()], handle)
    ]
    _back_off(failed, client)
    return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r in failed]}


def _retry_later(appointment_id: str, record: Record, name: str) -> None:
    logger.warning(
        "helsenorge: appointment %s not sent (%s, try %d); retried later", appointment_id, name, record.receive_count
    )
    raise Undelivered(name) from None


def records_of(event: Any) -> list[Record]:
    """Records of a Chalice SQSEvent or of the raw Lambda event dict."""
    raw = event.get("Records", []) if isinstance(event, Mapping) else [r.to_dict() for r in event]
    return [
        Record(
            r["messageId"],
            r.get("receiptHandle", ""),
            r["body"],
            int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)),
        )
        for r in raw
    ]
