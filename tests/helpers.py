"""Shared steps for API tests: find a free slot, hold it, book it."""

from __future__ import annotations

import datetime
from typing import Any

from chalicelib import clock, settings


def months_ahead(count: int = 2) -> list[str]:
    today = clock.local(clock.now()).date().replace(day=1)
    months = []
    for _ in range(count):
        months.append(today.strftime("%Y-%m"))
        today = (today + datetime.timedelta(days=32)).replace(day=1)
    return months


def free_days(client: Any, timebook_id: str, location: str | None = None) -> list[dict[str, Any]]:
    days = []
    for month in months_ahead():
        query = f"month={month}" + (f"&location={location}" if location else "")
        response = client.get(f"/timebooks/{timebook_id}/calendar?{query}")
        assert response.status == 200, response
        days.extend(d for d in response.json["days"] if d["free"] > 0)
    return days


def free_slots(client: Any, timebook_id: str, day: str | None = None) -> list[dict[str, Any]]:
    day = day or free_days(client, timebook_id)[0]["date"]
    response = client.get(f"/timebooks/{timebook_id}/slots?date={day}")
    assert response.status == 200, response
    return response.json["items"]


def first_free_slot(client: Any, timebook_id: str, not_before: datetime.datetime | None = None) -> dict[str, Any]:
    """The first free slot starting at or after `not_before`; by default the first of a day after
    today, so moving the clock a little never reaches it."""
    today = clock.local(clock.now()).date().isoformat()
    for day in free_days(client, timebook_id):
        if not_before is None and day["date"] <= today:
            continue
        for slot in free_slots(client, timebook_id, day["date"]):
            if not_before is None or datetime.datetime.fromisoformat(slot["start"]) >= not_before:
                return slot
    raise AssertionError("no free slot found")


def slot_free(client: Any, timebook_id: str, slot_id: str, day: str) -> int:
    """Free places of a slot as step 4 shows them (0 when the slot is not listed)."""
    for item in free_slots(client, timebook_id, day):
        if item["id"] == slot_id:
            return int(item["free"])
    return 0


def book_body(phone: str, answers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"answers": answers, "phone": phone, **extra}


def timebook_body(health_contact_id: str, **changes: Any) -> dict[str, Any]:
    """A valid POST /admin/timebooks body (a lab timebook with one yes/no question), changed as asked."""
    body: dict[str, Any] = {
        "health_contact_id": health_contact_id,
        "name": "Blodprøve",
        "type": "lab",
        "description": "",
        "resource": {"name": "Lab", "description": ""},
        "requires_confirmation": True,
        "hold_minutes": 10,
        "cancel_deadline_hours": 24,
        "form": {"title": "Skjema", "questions": [{"id": "q1", "text": "Fastende?", "kind": "yes_no"}]},
    }
    body.update(changes)
    return body


def relay_stream(handler: Any = None) -> Any:
    """What the stream relay does in AWS: every record the table's stream got since the last call,
    through the relay's Lambda handler (app.relay_events), to the queues. Returns the
    DrainResult (records read, handed to the relay, failed batches)."""
    from chalicelib.local.stream import drain_stream

    if handler is None:
        import app

        handler = lambda event: app.relay_events(event, None)  # noqa: E731
    return drain_stream(handler)


def deliver_events() -> None:
    """The stream relay, then the SQS consumer (visibility 0: a failed message comes back at once):
    committed changes become inbox messages."""
    from chalicelib import settings
    from chalicelib.messaging import consumer
    from chalicelib.messaging.local_consumer import drain_queue

    relay_stream()
    queue_url = settings.get().events_queue_url
    assert queue_url, "no events queue"
    drain_queue(queue_url, consumer.handle_batch, visibility_timeout=0)


def stream_messages() -> list[dict[str, Any]]:
    """The event messages the table's stream got since the last drain, as the relay makes them
    (and sends nowhere): what the citizens will be told."""
    from chalicelib.messaging.relay import message_of

    found: list[dict[str, Any]] = []

    def keep(event: dict[str, Any]) -> dict[str, Any]:
        found.extend(m for m in (message_of(r) for r in event["Records"]) if m is not None)
        return {"batchItemFailures": []}

    relay_stream(keep)
    return found


def publish_availability() -> int:
    """What the deployed stream source of app.publish_availability does: the slot records the
    table's stream holds (all of them: a reader of its own each call), to the publisher.
    Returns how many records it handed over."""
    import app
    from chalicelib.booking.availability_docs import is_slot_change
    from chalicelib.local.stream import StreamReader

    reader = StreamReader(settings.get().table_name, wanted=is_slot_change)
    return reader.drain(lambda event: app.publish_availability(event, None)).handed
