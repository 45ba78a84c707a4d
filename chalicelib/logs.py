"""Structured JSON logs that never carry personal data, each line with its request id.

Code logs ids, kinds and counts, never identity numbers, phone numbers, answers or
descriptions. As a second line of defence every record passes a filter that masks anything
shaped like an identity number (11 digits) or a phone number before it is written.

Every line written while a request or an event is handled carries its id (`request_id`: API
Gateway's request id, else the Lambda invocation's), as Powertools' Logger does with
`inject_lambda_context`, so one request's lines can be found together. Locally the gateway
(chalicelib/local/gateway.py) makes the id, as API Gateway does, and writes one access line per
request: method, path (ids are fine; no query string, which can carry search terms), status and
milliseconds; in AWS, API Gateway's access log does that. `make run` writes the records as short
text lines instead of JSON (`configure(console=True)`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from chalicelib import settings

# Word boundaries, not digit boundaries: digits inside hex ids (ev28e1234567c) are not numbers.
_PID = re.compile(r"(?<!\w)\d{6}[ -]?\d{5}(?!\w)")
# A Norwegian number as it is written: 8 digits together, 3-2-3 (mobile) or 2-2-2-2 (landline);
# not any 3 digits then 5, which is an access line's status and milliseconds (`200 12905 ms`).
_NATIONAL = r"[2-9]\d{7}|[2-9]\d{2} \d{2} \d{3}|[2-9]\d \d{2} \d{2} \d{2}"
_PHONE = re.compile(rf"(?<!\w)(?:(?:\+|00)\d[\d ]{{7,14}}\d|{_NATIONAL})(?!\w)")
MASK = "[redacted]"

_request_id: ContextVar[str | None] = ContextVar("timebok_request_id", default=None)
access_logger = logging.getLogger("timebok.access")


def redact(text: str) -> str:
    return _PHONE.sub(MASK, _PID.sub(MASK, text))


def current_request_id() -> str | None:
    return _request_id.get()


@contextlib.contextmanager
def request_id(value: str) -> Iterator[str]:
    """Every log line inside carries `value` as its request id."""
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on the record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class RedactingJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        current = settings.get()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "service": current.service,
        }
        request = getattr(record, "request_id", None) or _request_id.get()
        if request:
            entry["request_id"] = request
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            if current.log_tracebacks:
                entry["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class RedactingConsoleFormatter(logging.Formatter):
    """`make run`'s console: `12:00:01 INFO  [3f2a9c1e] GET /holds 201 12 ms`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        request = getattr(record, "request_id", None) or _request_id.get()
        where = f" [{request[:8]}]" if request else ""
        name = "" if record.name == access_logger.name else f" {record.name}:"
        line = f"{stamp} {record.levelname:<5}{where}{name} {redact(record.getMessage())}"
        if record.exc_info and record.exc_info[0] is not None:
            line += f" ({record.exc_info[0].__name__})"
            if settings.get().log_tracebacks:
                line += "\n" + redact(self.formatException(record.exc_info))
        return line


_console = False


def configure(level: str | None = None, *, console: bool | None = None) -> None:
    """JSON (or, once asked for, console text) on the root logger, Lambda's handler included; idempotent."""
    global _console
    if console is not None:
        _console = console
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    formatter = RedactingConsoleFormatter() if _console else RedactingJsonFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
    root.setLevel(level or settings.get().log_level)
    for noisy in ("botocore", "boto3", "urllib3", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _id_of(event: Any) -> str:
    context = getattr(event, "context", None)
    if isinstance(context, dict) and context.get("requestId"):
        return str(context["requestId"])  # API Gateway's (or the local gateway's): the id a client can quote
    lambda_context = getattr(event, "lambda_context", None) or context
    invocation = getattr(lambda_context, "aws_request_id", None)
    return str(invocation) if invocation else (_request_id.get() or uuid.uuid4().hex)


def middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler (HTTP, SQS, schedules): the request id on every line."""
    with request_id(_id_of(event)):
        return get_response(event)


def access(method: str, path: str, status: int, started: float) -> None:
    """One line per request: method, path without its query string, status, milliseconds."""
    path = path.split("?", 1)[0]
    elapsed = (time.perf_counter() - started) * 1000
    extra = {"method": method, "path": path, "status": status, "ms": round(elapsed, 1)}
    access_logger.info("%s %s %d %.0f ms", method, path, status, elapsed, extra=extra)
