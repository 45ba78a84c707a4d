"""The one source of time, so tests move time instead of sleeping or racing the machine.

Two readings, both from here and nowhere else:
- `now()`: the wall clock (aware, UTC) for what is stored and compared: holds' expiry, slots
  that have begun, created_at.
- `monotonic()`: seconds for durations inside one process: the request budget, caches and memos,
  background budgets. Tests stop it (`stop_monotonic()`), so a request's budget or a cache's age
  never depends on how busy the machine is; `advance()` moves both readings.

`sleep()` waits on the monotonic clock: a real sleep, or, while it is stopped, a step forward.
"""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

_offset = timedelta(0)
_stopped_at: float | None = None  # the monotonic reading while stopped (tests)


def now() -> datetime:
    """Current time, aware, in UTC (plus any offset a test has applied)."""
    return datetime.now(UTC) + _offset


def epoch(moment: datetime | None = None) -> int:
    """Whole seconds since the epoch: how expiry is stored and compared in DynamoDB."""
    return int((moment or now()).timestamp())


def local(moment: datetime) -> datetime:
    """The same instant in Europe/Oslo, which is what the API speaks."""
    return moment.astimezone(OSLO)


def monotonic() -> float:
    """Seconds for measuring durations in this process; stands still while stopped (tests)."""
    base = _stopped_at if _stopped_at is not None else _time.monotonic()
    return base + _offset.total_seconds()


def sleep(seconds: float) -> None:
    """Wait: really, or, while the monotonic clock is stopped, by moving it on."""
    global _stopped_at
    if seconds <= 0:
        return
    if _stopped_at is not None:
        _stopped_at += seconds
        return
    _time.sleep(seconds)


def stop_monotonic() -> None:
    """Tests: durations (budgets, cache ages) move only when the test moves the clock."""
    global _stopped_at
    if _stopped_at is None:
        _stopped_at = _time.monotonic()


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests and the local demo only)."""
    global _offset
    _offset += delta


def reset() -> None:
    """The real clock again: no offset, the monotonic clock running."""
    global _offset, _stopped_at
    _offset = timedelta(0)
    _stopped_at = None
