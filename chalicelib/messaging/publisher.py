"""Putting events on the SQS FIFO queue, and the one message format both ends agree on.

A message is `{"event_id", "kind", "appointment_id", "created_at", "payload"}` as JSON.
MessageGroupId is the appointment id, so one appointment's messages reach the consumer in
order; MessageDeduplicationId is the event id, so a relay that sends an event twice within
SQS's five-minute window (a retried stream batch) gets it queued once (and the consumer is
idempotent beyond that). The relay (relay.py) makes the messages from stream records and
sends them to `relay_publisher()`: the events queue, and Helsenorge's queue (appointment changes
only) where that is configured. What reads the queues: consumer.py and helsenorge.py.

boto3 is imported lazily: the HTTP handlers import this module, and most requests never send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from chalicelib import settings
from chalicelib.messaging.texts import KINDS

MESSAGE_KEYS: tuple[str, ...] = ("event_id", "kind", "appointment_id", "created_at", "payload")


class Publisher(Protocol):
    """Hands one event message (see MESSAGE_KEYS) to the queue; raises if the queue did not take it."""

    def publish(self, message: Mapping[str, Any]) -> None: ...


def parse_message(body: str) -> dict[str, Any]:
    """A queue message body back as a dict; ValueError for anything that is not one of ours."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as error:
        raise ValueError("message body is not JSON") from error
    if not isinstance(message, dict):
        raise ValueError("message body is not a JSON object")
    for key in MESSAGE_KEYS[:-1]:
        value = message.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"message has no {key}")
    if message["kind"] not in KINDS:
        raise ValueError(f"unknown message kind: {message['kind']!r}")
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("message has no payload")
    for_pid = payload.get("for_pid")
    if not isinstance(for_pid, str) or not for_pid:
        raise ValueError("message payload names no recipient")
    return message


def region() -> str | None:
    """The region Lambda (and the local runner) set; None lets botocore decide."""
    return settings.get().region


def sqs_client() -> Any:
    """A new SQS client with short timeouts: a request that relays after its commit must not hang.

    The endpoint follows AWS_ENDPOINT_URL (the local stand-in) as botocore does by itself.
    """
    import boto3
    from botocore.config import Config

    timeouts = settings.get()
    config = Config(
        connect_timeout=timeouts.sqs_connect_timeout,
        read_timeout=timeouts.sqs_read_timeout,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.session.Session().client("sqs", region_name=region(), config=config)


class SqsPublisher:
    """Sends events to the events queue; one (lazily made) client per instance."""

    def __init__(self, queue_url: str | None = None, client: Any = None) -> None:
        url = queue_url or settings.get().events_queue_url
        if not url:
            raise ValueError("no events queue: pass queue_url or set EVENTS_QUEUE_URL")
        self.queue_url: str = url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = sqs_client()
        return self._client

    def publish(self, message: Mapping[str, Any]) -> None:
        self.send(message)

    def send(self, message: Mapping[str, Any]) -> None:
        """Send a message (the relay's, or one replayed from the dead-letter queue)."""
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(message, separators=(",", ":")),
            MessageGroupId=message["appointment_id"],
            MessageDeduplicationId=message["event_id"],
        )


_default: SqsPublisher | None = None


def default_publisher() -> SqsPublisher:
    """One SqsPublisher per process (a boto3 client costs tens of milliseconds to build).

    Made again when EVENTS_QUEUE_URL changes (tests, the local runner: settings.reset()).
    """
    global _default
    url = settings.get().events_queue_url
    if _default is None or _default.queue_url != url:
        _default = SqsPublisher(url)
    return _default


def reset_default_publisher() -> None:
    """Forget the cached clients, e.g. after AWS_ENDPOINT_URL changed."""
    global _default, _helsenorge
    _default = None
    _helsenorge = None


class FanOut:
    """Publishes an event to several queues; raises if any refused it (the stream record is
    retried, and a resend is harmless on both: FIFO deduplication, idempotent consumers)."""

    def __init__(self, *publishers: Publisher) -> None:
        self.publishers = publishers

    def publish(self, message: Mapping[str, Any]) -> None:
        for publisher in self.publishers:
            publisher.publish(message)


# The inbox kinds that are appointment changes (a reminder or a waitlist offer changes nothing).
CHANGE_KINDS = frozenset({"requested", "confirmed", "rejected", "cancelled", "rescheduled", "closed"})
# Changes Helsenorge hears about that are no inbox message (the person was there, or was not).
NOT_FOR_INBOX = frozenset({"arrived", "noshow"})


def helsenorge_enabled() -> bool:
    """Sending is on where a Helsenorge endpoint and the queue are configured."""
    return bool(settings.get().helsenorge_appointment_url and settings.get().helsenorge_queue_url)


class HelsenorgePublisher(SqsPublisher):
    """Hands appointment-change events to the Helsenorge queue; other kinds are not its business."""

    def __init__(self, queue_url: str | None = None, client: Any = None) -> None:
        url = queue_url or settings.get().helsenorge_queue_url
        if not url:
            raise ValueError("no Helsenorge queue: pass queue_url or set HELSENORGE_QUEUE_URL")
        super().__init__(url, client)

    def publish(self, message: Mapping[str, Any]) -> None:
        if message["kind"] not in CHANGE_KINDS | NOT_FOR_INBOX or _about_waitlist(message):
            return
        super().publish(message)


def _about_waitlist(message: Mapping[str, Any]) -> bool:
    """A note to a waiting person (a closure of their window) names a waitlist entry, not an appointment."""
    return dict(message.get("payload") or {}).get("waitlist") == "yes"


_helsenorge: HelsenorgePublisher | None = None


def relay_publisher() -> Publisher:
    """What the relay sends to: the events queue, and the Helsenorge queue where that is configured."""
    global _helsenorge
    events = default_publisher()
    if not helsenorge_enabled():
        return events
    url = settings.get().helsenorge_queue_url
    if _helsenorge is None or _helsenorge.queue_url != url:
        _helsenorge = HelsenorgePublisher(url)
    return FanOut(events, _helsenorge)


settings.on_reset(reset_default_publisher)
