"""Turning a Chalice request into a validated model, and a model into a Chalice response."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.errors import InvalidInput
from chalicelib.http.errors import from_validation
from chalicelib.http.parameters import CURSOR, IDEMPOTENCY_KEY, LIMIT, QUEUE_TICKET, Param

if TYPE_CHECKING:
    from chalicelib.domain import paging

Model = TypeVar("Model", bound=BaseModel)

MAX_BODY_BYTES = 64 * 1024


def parse_body(request: Request, model: type[Model]) -> Model:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput("The request body is too large.", code="body_too_large")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation(error) from None


def query_param(request: Request, param: Param) -> str | None:
    """The value of a query parameter, None when absent or empty."""
    params = request.query_params or {}
    value = params.get(param.name)
    return value if value else None


def header(request: Request, param: Param) -> str | None:
    return request.headers.get(param.name) if request.headers else None  # Chalice's headers ignore case


def queue_ticket(request: Request) -> str | None:
    """X-Queue-Ticket: the waiting room's ticket (verified by its signature in booking/queue.py)."""
    return header(request, QUEUE_TICKET)


def idempotency_key(request: Request) -> str | None:
    """Idempotency-Key: 1-200 visible ASCII characters, or absent."""
    value = header(request, IDEMPOTENCY_KEY)
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.matches(value):
        raise InvalidInput(
            "Idempotency-Key must be 1-200 visible ASCII characters.",
            fields=[(IDEMPOTENCY_KEY.name, "1-200 visible ASCII characters")],
        )
    return value


def page_of(request: Request) -> paging.PageRequest:
    """`limit` (1-200, default 50) and `cursor` of a list the caller reads; 400 by field otherwise."""
    from chalicelib.domain import paging  # on first use: its dataclasses cost a cold start time

    raw_limit = query_param(request, LIMIT)
    limit = paging.DEFAULT_LIMIT
    if raw_limit is not None:
        if not LIMIT.matches(raw_limit) or not 1 <= int(raw_limit) <= paging.MAX_LIMIT:
            expected = f"an integer from 1 to {paging.MAX_LIMIT}"
            raise InvalidInput(f"limit must be 1-{paging.MAX_LIMIT}.", fields=[(LIMIT.name, expected)])
        limit = int(raw_limit)
    raw_cursor = query_param(request, CURSOR)
    start = paging.Position()
    if raw_cursor is not None:
        try:
            # Longer than the document allows: refused as any other bad cursor, without decoding it.
            start = paging.decode(raw_cursor) if CURSOR.matches(raw_cursor) else paging.decode("!")
        except paging.BadCursor:
            raise InvalidInput("cursor is not valid.", fields=[(CURSOR.name, "use next_cursor as given")]) from None
    return paging.PageRequest(limit, start)


def paged(models: list[BaseModel], position: paging.Position | None) -> dict[str, Any]:
    from chalicelib.domain import paging

    return items(models, next_cursor=paging.encode(position))


def respond(payload: BaseModel | dict[str, Any], status: int = 200, cache_seconds: int = 0) -> Response:
    body = payload.model_dump(mode="json", by_alias=True) if isinstance(payload, BaseModel) else payload
    headers = {"Content-Type": "application/json"}
    # Discovery and availability are public: a CDN or the browser may keep them briefly.
    headers["Cache-Control"] = f"public, max-age={cache_seconds}" if cache_seconds else "no-store"
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers=headers)


def items(models: list[BaseModel], **extra: Any) -> dict[str, Any]:
    return {**extra, "items": [m.model_dump(mode="json", by_alias=True) for m in models]}
