"""Shared pieces of the messaging tests: hand-made appointments and events, an SQS client."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from chalicelib.booking.events import event_for
from chalicelib.storage import repository
from chalicelib.storage.models import AppointmentItem, OutboxItem
from tests.conftest import REGION
from tests.factories import make_phone, make_pid

PID = make_pid(11)
PHONE = make_phone(11)


def appointment(
    appointment_id: str = "ap1", pid: str = PID, start: str = "2022-10-05T13:30:00+02:00"
) -> AppointmentItem:
    """An appointment as the booking code stores it, without going through booking."""
    return AppointmentItem(
        id=appointment_id,
        status="booked",
        slot_id="unused",
        place=0,
        timebook={"id": "tb1", "name": "Koronatest", "type": "koronatest"},
        health_contact={"id": "hc1", "name": "Pcr Covid-19 DDFL", "her_id": "1234"},
        location={"id": "loc1", "name": "Korona teststasjon A", "address": "Gaten 1, 0271 Oslo", "directions": ""},
        start=start,
        end=start,
        duration_minutes=60,
        for_pid=pid,
        booked_by=pid,
        phone=PHONE,
        created_at="2022-10-01T10:00:00+02:00",
        updated_at="2022-10-01T10:00:00+02:00",
    )


def event(appointment_id: str = "ap1", kind: str = "confirmed", pid: str = PID, **extra: str) -> OutboxItem:
    return event_for(appointment(appointment_id, pid), kind, **extra)


def stored_events(count: int, kind: str = "confirmed") -> list[OutboxItem]:
    """Events committed to the outbox (as the booking transaction would), one appointment each."""
    made = []
    for n in range(count):
        item = repository.prepare_outbox(event(f"ap{n}", kind))
        item.save()
        made.append(item)
    return made


def body_of(item: OutboxItem) -> str:
    from chalicelib.messaging.publisher import event_message

    return json.dumps(event_message(item))


class RecordingNotifier:
    """Remembers what it was asked to send; can be told to fail."""

    def __init__(self, fail: Callable[[str], bool] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self._fail = fail

    def notify(self, pid: str, kind: str, title: str, body: str, appointment_id: str) -> None:
        if self._fail is not None and self._fail(appointment_id):
            raise RuntimeError("gateway down")
        self.sent.append((kind, appointment_id))


@pytest.fixture
def messaging_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What the messaging loggers say at INFO and up, whatever Chalice did to the "timebok" logger
    (once app.py is imported it has level ERROR and does not propagate to caplog's root handler)."""
    logger = logging.getLogger("timebok.messaging")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """The messages as the code wrote them, before any redacting formatter: what must not leak."""
    return "\n".join(record.getMessage() for record in caplog.records)


@pytest.fixture
def sqs(aws: dict[str, str]) -> Any:
    return boto3.client("sqs", region_name=REGION)


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message, with its group and deduplication id (and deleted, so nothing repeats)."""
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        found.extend(messages)
