"""A request's time budget: past it, a request answers 429 with Retry-After instead of running
into the Lambda timeout (which API Gateway would answer with a 5xx).

Checked between DynamoDB calls of the loops that can run long under load (availability
refreshes, first-available's candidate reads); one call is bounded by botocore's timeouts.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from typing import TypeVar

from chalicelib import clock, settings
from chalicelib.errors import Throttled

# The API handler's Lambda timeout is 10 s and one DynamoDB call may take up to its 5 s read
# timeout: past 6 s a request stops starting new work.
DEFAULT_SECONDS = 6.0

T = TypeVar("T")

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("timebok_deadline", default=None)


def start(seconds: float | None = None) -> contextvars.Token[float | None]:
    limit = seconds if seconds is not None else float(settings.get().request_budget_seconds or DEFAULT_SECONDS)
    return _deadline.set(clock.monotonic() + limit)


def reset(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


def check() -> None:
    """Raise Throttled (429) once this request's budget is spent."""
    deadline = _deadline.get()
    if deadline is not None and clock.monotonic() > deadline:
        raise Throttled("Too many requests, try again shortly.", retry_after=2)


def within(items: Iterable[T], deadline: float) -> Iterator[T]:
    """The items a background run takes on before `deadline` (monotonic seconds): always the
    first, so every run gets on; the rest is the next run's (the every-minute schedule's loops)."""
    for index, item in enumerate(items):
        if index and clock.monotonic() > deadline:
            return
        yield item
