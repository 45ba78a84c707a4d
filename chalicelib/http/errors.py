"""The JSON error of API.md, and the mapping of every failure onto it.

`{"error": {"code": "...", "message": "...", "fields": [{"field", "message"}]}}`. Client
mistakes are 4xx; load is 429 with Retry-After (DynamoDB throttling, a timeout talking to AWS,
the request's own time budget spent: chalicelib/budget.py); other AWS faults are 503 with
Retry-After; only a bug is a 500, and its body never carries a stack trace or personal data.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import Busy, InvalidInput, Throttled, TimebokError, Unavailable

logger = logging.getLogger("timebok.http")

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "Throttling",
    }
)


def body(code: str, message: str, fields: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = [{"field": f, "message": m} for f, m in fields]
    return {"error": error}


def _field_name(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "body"


def from_validation(error: ValidationError, aliases: dict[str, str] | None = None) -> InvalidInput:
    """Pydantic's errors, field by field, without echoing the input (it may be personal data)."""
    fields = []
    for item in error.errors(include_input=False, include_url=False):
        name = _field_name(item.get("loc", ()))
        fields.append(((aliases or {}).get(name, name), item.get("msg", "invalid")))
    return InvalidInput("Some fields are not valid.", fields=fields)


def _aws_code(error: BaseException) -> str | None:
    """The AWS error code behind a botocore or PynamoDB exception, if any."""
    code = getattr(error, "cause_response_code", None)
    if code:
        return str(code)
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def _is_aws_error(error: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    return isinstance(error, BotoCoreError | ClientError | PynamoDBException)


def _cancellation_throttled(error: BaseException) -> bool:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return any(getattr(r, "code", None) in ("ThrottlingError", "ProvisionedThroughputExceeded") for r in reasons)


def _cancellation_conflict(error: BaseException) -> bool:
    reasons = getattr(error, "cancellation_reasons", None) or []
    return any(getattr(r, "code", None) == "TransactionConflict" for r in reasons)


def _timed_out(error: BaseException) -> bool:
    """A timeout talking to AWS anywhere in the chain (PynamoDB wraps botocore's as `cause`)."""
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ReadTimeoutError | ConnectTimeoutError):
            return True
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return False


def to_timebok_error(error: BaseException) -> TimebokError | None:
    """Map an AWS failure onto 429 (throttled, timed out: load) or 503 (a fault); None for a bug."""
    if isinstance(error, TimebokError):
        return error
    if isinstance(error, ValidationError):
        return from_validation(error)
    if _is_aws_error(error):
        if _aws_code(error) in THROTTLING_CODES or _cancellation_throttled(error) or _timed_out(error):
            return Throttled()
        if _aws_code(error) == "TransactionConflictException" or _cancellation_conflict(error):
            return Busy()  # a write met a concurrent transaction and was not retried: load, not a fault
        if _aws_code(error) == "ValidationException":
            # DynamoDB refused what it was sent (e.g. a key too large): retrying will not help.
            return InvalidInput("The request could not be processed as sent.")
        return Unavailable()
    return None


def render(error: TimebokError) -> tuple[int, dict[str, str], str]:
    headers = {"Content-Type": "application/json", **error.headers}
    answer = body(error.code, error.message, error.fields)
    answer["error"].update(error.extra)
    return error.status, headers, json.dumps(answer)


def internal_error() -> tuple[int, dict[str, str], str]:
    return 500, {"Content-Type": "application/json"}, json.dumps(body("internal_error", "Something went wrong."))


# Chalice answers some requests itself (unknown method, media type); its body is reshaped to ours.
CHALICE_CODES = {
    "BadRequestError": ("invalid_request", 400),
    "MethodNotAllowedError": ("method_not_allowed", 405),
    "UnsupportedMediaType": ("unsupported_media_type", 415),
    "NotFoundError": ("not_found", 404),
    "UnauthorizedError": ("unauthorized", 401),
    "ForbiddenError": ("forbidden", 403),
    "ConflictError": ("conflict", 409),
    "TooManyRequestsError": ("throttled", 429),
}
