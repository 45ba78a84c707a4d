"""The events Lambda would get in AWS, driven locally: stream relay, SQS consumer, schedules.

`chalice local` serves HTTP only; this drives the same handler functions app.py registers for
the table's stream, SQS and schedules, on a background thread, so a confirmation reaches the
inbox locally too.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib import settings

logger = logging.getLogger("timebok.local.events")


@dataclass
class Periodic:
    name: str
    every_seconds: float
    run: Callable[[], Any]
    next_at: float = 0.0


class LocalEvents:
    def __init__(self, app: Any, tasks: list[Periodic] | None = None) -> None:
        self._app = app
        self._tasks = tasks if tasks is not None else default_tasks(app)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="local-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for task in self._tasks:
                if now >= task.next_at:
                    task.next_at = now + task.every_seconds
                    try:
                        task.run()
                    except Exception:
                        logger.exception("local task %s failed", task.name)
            self._stop.wait(0.1)


def _lambda_sqs_event(records: list[tuple[str, str]]) -> dict[str, Any]:
    """What Lambda's SQS event source hands the function."""
    return {
        "Records": [
            {"messageId": message_id, "receiptHandle": message_id, "body": body, "eventSource": "aws:sqs"}
            for message_id, body in records
        ]
    }


def _scheduled_event() -> dict[str, Any]:
    """What EventBridge hands a scheduled function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": settings.get().region,
        "resources": [],
        "detail": {},
    }


def default_tasks(app: Any) -> list[Periodic]:
    """As in AWS, but faster where a person is waiting: the stream every 0.4 s, the queue every second."""
    import app as app_module
    from chalicelib.local.stream import StreamReader
    from chalicelib.messaging.local_consumer import drain_queue

    stream = StreamReader(settings.get().table_name)
    from chalicelib.booking.availability_docs import is_slot_change

    slot_changes = StreamReader(settings.get().table_name, wanted=is_slot_change)

    queue_url = settings.get().events_queue_url

    def consume() -> None:
        drain_queue(queue_url, lambda records: app_module.deliver_to_inbox(_lambda_sqs_event(records), None))

    def send_to_helsenorge() -> None:
        from chalicelib.local.standards import drain

        drain(settings.get().helsenorge_queue_url or "", lambda event: app_module.send_to_helsenorge(event, None))

    return [
        Periodic("publish feed", 30.0, lambda: app_module.publish_feed(_scheduled_event(), None)),
        Periodic("send to helsenorge", 1.0, send_to_helsenorge),
        Periodic("relay the stream", 0.4, lambda: stream.drain(lambda event: app_module.relay_events(event, None))),
        Periodic(
            "publish availability",
            0.5,
            lambda: slot_changes.drain(lambda event: app_module.publish_availability(event, None)),
        ),
        Periodic("deliver to inbox", 1.0, consume),
        Periodic("release expired holds", 60.0, lambda: app_module.release_expired_holds(_scheduled_event(), None)),
        # Every 5 s, not every minute as in AWS: a person is waiting (the step admits by elapsed time).
        Periodic("admit from queues", 5.0, lambda: app_module.admit_from_queues(_scheduled_event(), None)),
        Periodic("send reminders", 3600.0, lambda: app_module.send_reminders(_scheduled_event(), None)),
        Periodic(
            "erase expired personal data",
            900.0,
            lambda: app_module.erase_expired_personal_data(_scheduled_event(), None),
        ),
    ]
