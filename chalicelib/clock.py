"""The one source of "now", so tests can move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

_offset = timedelta(0)


def now() -> datetime:
    """Current time, aware, in UTC (plus any offset a test has applied)."""
    return datetime.now(UTC) + _offset


def epoch(moment: datetime | None = None) -> int:
    """Whole seconds since the epoch: how expiry is stored and compared in DynamoDB."""
    return int((moment or now()).timestamp())


def local(moment: datetime) -> datetime:
    """The same instant in Europe/Oslo, which is what the API speaks."""
    return moment.astimezone(OSLO)


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests and the local demo only)."""
    global _offset
    _offset += delta


def reset() -> None:
    global _offset
    _offset = timedelta(0)
