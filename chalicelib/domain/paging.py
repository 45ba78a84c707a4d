"""Pages of a list the caller reads (API.md: `limit` default 50, at most 200; `cursor`).

A cursor is opaque to the client: which of the caller's people the page reached, and the sort
key of the last item given (never an identity number: the storage layer rebuilds the rest of
the key from who is asking, so a cursor cannot reach anyone else's list).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Position:
    person: int = 0  # index into the caller's people (0 for single lists)
    after: tuple[str, ...] = ()  # sort key parts of the last item given; () = from the start


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    start: Position = Position()


def sort_key_after(page: PageRequest) -> str | None:
    """The one sort key a single list (not per person) continues after, if any."""
    return page.start.after[0] if page.start.after else None


def continue_after(sort_key: str | None) -> Position | None:
    """Where a single list goes on: after this sort key, or nowhere (the last page)."""
    return Position(0, (sort_key,)) if sort_key is not None else None


def encode(position: Position | None) -> str | None:
    if position is None:
        return None
    raw = json.dumps({"p": position.person, "a": list(position.after)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        person, after = data["p"], data["a"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BadCursor("not a cursor of this list") from None
    if not isinstance(person, int) or not 0 <= person < 100 or not isinstance(after, list):
        raise BadCursor("not a cursor of this list")
    if len(after) > 3 or not all(isinstance(part, str) and len(part) <= 200 for part in after):
        raise BadCursor("not a cursor of this list")
    return Position(person, tuple(after))
