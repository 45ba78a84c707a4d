"""Shared pieces of the messaging tests: hand-made appointments carrying events, an SQS client."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from chalicelib.booking.events import change_event
from chalicelib.messaging.relay import appointment_message
from chalicelib.storage import repository
from chalicelib.storage.models import AppointmentItem
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


@dataclass(frozen=True)
class Event:
    """An event as the relay makes it from an appointment carrying it (`message`)."""

    message: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.message["event_id"])

    @property
    def appointment_id(self) -> str:
        return str(self.message["appointment_id"])

    @property
    def kind(self) -> str:
        return str(self.message["kind"])

    @property
    def created_at(self) -> str:
        return str(self.message["created_at"])


def carrying(item: AppointmentItem, kind: str, **extra: str) -> AppointmentItem:
    item.event = change_event(kind, **extra)
    return item


def event(appointment_id: str = "ap1", kind: str = "confirmed", pid: str = PID, **extra: str) -> Event:
    message = appointment_message(carrying(appointment(appointment_id, pid), kind, **extra))
    assert message is not None
    return Event(message)


def event_message(item: Event) -> dict[str, Any]:
    return item.message


def stored_events(count: int, kind: str = "confirmed") -> list[Event]:
    """Appointments written with their event (as the booking transaction does), one each: the
    table's stream has a record of each."""
    made = []
    for n in range(count):
        item = carrying(appointment(f"ap{n}"), kind)
        repository._prepare_appointment(item)
        item.save()
        message = appointment_message(item)
        assert message is not None
        made.append(Event(message))
    return made


def body_of(item: Event) -> str:
    return json.dumps(item.message)


class RecordingNotifier:
    """Remembers what it was asked to send; can be told to fail."""

    def __init__(self, fail: Callable[[str], bool] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self._fail = fail

    def notify(self, pid: str, kind: str, title: str, body: str, appointment_id: str, **_: Any) -> None:
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
