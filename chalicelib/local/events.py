"""The events Lambda would get in AWS, driven locally: relay, SQS consumer, schedules.

`chalice local` serves HTTP only; this drives the same handler functions app.py registers for
SQS and schedules, on a background thread, so a confirmation reaches the inbox locally too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
            self._stop.wait(0.2)


def default_tasks(app: Any) -> list[Periodic]:
    return []
