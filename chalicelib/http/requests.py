"""Turning a Chalice request into a validated model, and a model into a Chalice response."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.errors import InvalidInput
from chalicelib.http.errors import from_validation

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


def query_param(request: Request, name: str) -> str | None:
    params = request.query_params or {}
    value = params.get(name)
    return value if value else None


def header(request: Request, name: str) -> str | None:
    return request.headers.get(name) if request.headers else None


_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def idempotency_key(request: Request) -> str | None:
    """Idempotency-Key: 1-200 visible ASCII characters, or absent."""
    value = header(request, "idempotency-key")
    if value is None:
        return None
    if not _KEY.match(value):
        raise InvalidInput(
            "Idempotency-Key must be 1-200 visible ASCII characters.",
            fields=[("Idempotency-Key", "1-200 visible ASCII characters")],
        )
    return value


def page_of(request: Request) -> Any:
    """`limit` (1-200, default 50) and `cursor` of a list the caller reads; 400 by field otherwise."""
    from chalicelib.domain import paging

    raw_limit = query_param(request, "limit")
    limit = paging.DEFAULT_LIMIT
    if raw_limit is not None:
        if not re.fullmatch(r"[0-9]{1,3}", raw_limit) or not 1 <= int(raw_limit) <= paging.MAX_LIMIT:
            raise InvalidInput("limit must be 1-200.", fields=[("limit", f"an integer from 1 to {paging.MAX_LIMIT}")])
        limit = int(raw_limit)
    raw_cursor = query_param(request, "cursor")
    start = paging.Position()
    if raw_cursor is not None:
        try:
            start = paging.decode(raw_cursor) if len(raw_cursor) <= 1000 else paging.decode("!")
        except paging.BadCursor:
            raise InvalidInput("cursor is not valid.", fields=[("cursor", "use next_cursor as given")]) from None
    return paging.PageRequest(limit, start)


def paged(models: list[BaseModel], position: Any) -> dict[str, Any]:
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
