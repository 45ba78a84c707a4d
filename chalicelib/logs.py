"""Structured JSON logs that never carry personal data.

Code logs ids, kinds and counts, never identity numbers, phone numbers, answers or
descriptions. As a second line of defence every record passes a filter that masks anything
shaped like an identity number (11 digits) or a phone number before it is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime

# Word boundaries, not digit boundaries: digits inside hex ids (ev28e1234567c) are not numbers.
_PID = re.compile(r"(?<!\w)\d{6}[ -]?\d{5}(?!\w)")
_PHONE = re.compile(r"(?<!\w)(?:\+|00)\d[\d ]{7,14}\d(?!\w)|(?<!\w)[2-9]\d{2}[ ]?\d{2}[ ]?\d{3}(?!\w)")
MASK = "[redacted]"


def redact(text: str) -> str:
    return _PHONE.sub(MASK, _PID.sub(MASK, text))


class RedactingJsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "service": os.environ.get("POWERTOOLS_SERVICE_NAME", "timebok"),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            if os.environ.get("LOG_TRACEBACKS") == "enabled":
                entry["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str | None = None) -> None:
    """JSON on the root logger (Lambda's handler included); idempotent."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(RedactingJsonFormatter())
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))
    for noisy in ("botocore", "boto3", "urllib3", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
