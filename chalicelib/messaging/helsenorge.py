"""Helsenorge «Timeavtaler»: every appointment change is PUT there as an R4 Appointment.

Path: the change's event (on the appointment item) → the table's stream → the relay → the
Helsenorge SQS FIFO queue (group = the
appointment, so one appointment's sends stay in order) → `send_batch` → `PUT
{HELSENORGE_APPOINTMENT_URL}/Appointment/{id}` with a bearer token.

Exactly-once effect: a message only says "appointment X changed"; the sender reads the
appointment as it is now and sends that, with its version in meta.versionId. A resend, a
redelivery or an old message arriving late therefore sends the newest state again (a harmless
repeat of an idempotent PUT), never an older one. Helsenorge is not the source system: we keep
sending until it answers 2xx. A failed send is retried with exponential backoff (the message's
visibility timeout grows with its receive count); after maxReceiveCount it waits in the
dead-letter queue, which has an alarm. No personal data is logged: ids, versions and statuses only.
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
from chalicelib.messaging.publisher import SqsPublisher, parse_message, sqs_client
from chalicelib.messaging.relay import error_name

logger = logging.getLogger("timebok.messaging.helsenorge")

# The inbox kinds that are appointment changes (a reminder or a waitlist offer changes nothing).
CHANGE_KINDS = frozenset({"requested", "confirmed", "rejected", "cancelled", "rescheduled", "closed"})
DEFAULT_RETRY_BASE_SECONDS = 30
MAX_BACKOFF_SECONDS = 900
TIMEOUT_SECONDS = 5


def enabled() -> bool:
    """Sending is on where a Helsenorge endpoint and the queue are configured."""
    return bool(settings.get().helsenorge_appointment_url and settings.get().helsenorge_queue_url)


# ---- the relay's side: put change events on the Helsenorge queue ---------------------------------


class HelsenorgePublisher(SqsPublisher):
    """Hands appointment-change events to the Helsenorge queue; other kinds are not its business."""

    def __init__(self, queue_url: str | None = None, client: Any = None) -> None:
        url = queue_url or settings.get().helsenorge_queue_url
        if not url:
            raise ValueError("no Helsenorge queue: pass queue_url or set HELSENORGE_QUEUE_URL")
        super().__init__(url, client)

    def publish(self, message: Mapping[str, Any]) -> None:
        if message["kind"] not in CHANGE_KINDS or _about_waitlist(message):
            return
        super().publish(message)


def _about_waitlist(message: Mapping[str, Any]) -> bool:
    """A note to a waiting person (a closure of their window) names a waitlist entry, not an appointment."""
    return dict(message.get("payload") or {}).get("waitlist") == "yes"


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


class SendFailed(Exception):
    def __init__(self, status: int | None, why: str) -> None:
        super().__init__(f"{status} {why}")
        self.status = status


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
    if item is None:
        logger.warning("helsenorge: appointment %s not found; nothing to send", appointment_id)
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


def send_batch(records: Iterable[Record], token: TokenProvider | None = None, client: Any = None) -> dict[str, Any]:
    """Send each message's appointment; the answer names the failed messages for SQS to redeliver."""
    failed: list[Record] = []
    held_back: set[str] = set()  # appointments whose earlier message failed in this batch
    provider = token or token_provider()
    for record in records:
        try:
            message = parse_message(record.body)
        except ValueError:
            logger.error("helsenorge: message %s is not a Timebok event", record.message_id)
            failed.append(record)
            continue
        appointment_id = message["appointment_id"]
        if appointment_id in held_back:
            failed.append(record)
            continue
        try:
            send(appointment_id, provider)
        except Exception as error:
            logger.warning(
                "helsenorge: appointment %s not sent (%s, try %d); retried later",
                appointment_id,
                error_name(error) if not isinstance(error, SendFailed) else f"SendFailed:{error.status}",
                record.receive_count,
            )
            held_back.add(appointment_id)
            failed.append(record)
    _back_off(failed, client)
    return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r in failed]}


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
