"""Paging of lists that can grow (API.md: `limit` default 50, at most 200; opaque `cursor`)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from chalicelib.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page:
    limit: int
    after: str | None  # the sort key the previous page ended at


def parse_page(limit: str | None, cursor: str | None) -> Page:
    fields: list[tuple[str, str]] = []
    size = DEFAULT_LIMIT
    if limit is not None:
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            fields.append(("limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
        else:
            size = int(limit)
    after = None
    if cursor is not None:
        try:
            after = decode_cursor(cursor)
        except ValueError:
            fields.append(("cursor", "is not a cursor this list gave"))
    if fields:
        raise InvalidInput("Some paging parameters are not valid.", fields=fields)
    return Page(size, after)


def encode_cursor(sort_key: str | None) -> str | None:
    if sort_key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps({"k": sort_key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    if len(cursor) > 1000:
        raise ValueError("not a cursor")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["k"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError("not a cursor") from error
    if not isinstance(key, str):
        raise ValueError("not a cursor")
    return key
