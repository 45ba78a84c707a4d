"""The query and header parameters of the API, each defined once: requests.py reads a request by
these definitions (name and rule) and openapi.py documents the same objects.

A route lists the ones it takes in its declaration (routes.py); a view reads one with
`requests.query_param(request, MONTH)`, so the name it reads is the name the document shows.
"""

from __future__ import annotations

import re
from typing import Any, Literal


class Param:
    """One parameter: its name, where it travels, its JSON Schema (text on the wire) and what it means."""

    # A plain class, not a dataclass: a dataclass costs a millisecond of every cold start to create.
    __slots__ = ("description", "location", "name", "required", "schema")

    def __init__(
        self,
        name: str,
        location: Literal["query", "header"],
        schema: dict[str, Any],
        description: str,
        required: bool = False,
    ) -> None:
        self.name = name
        self.location = location
        self.schema = schema
        self.description = description
        self.required = required

    def __repr__(self) -> str:
        return f"<{self.location} parameter {self.name!r}>"

    def matches(self, value: str) -> bool:
        """True if `value` fits the schema's pattern and length (the document's rule, checked here)."""
        pattern = self.schema.get("pattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            return False
        return self.schema.get("minLength", 0) <= len(value) <= self.schema.get("maxLength", len(value))

    def as_openapi(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.location,
            "required": self.required,
            "description": self.description,
            "schema": self.schema,
        }


# The app's own rule (discovery._MONTH), in ASCII digits.
MONTH = Param(
    "month", "query", {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}, "The month, `YYYY-MM`.", True
)
DAY = Param("date", "query", {"type": "string", "format": "date"}, "The day, `YYYY-MM-DD`.", True)
OPTIONAL_DAY = Param("date", "query", {"type": "string", "format": "date"}, "Only this day, `YYYY-MM-DD`.")
LOCATION = Param("location", "query", {"type": "string"}, "Only this location of the timebook (its id).")
TIMEBOOK = Param("timebook_id", "query", {"type": "string", "minLength": 1}, "The timebook.", True)
STATUS = Param(
    "status",
    "query",
    {"type": "string", "enum": ["requested", "booked", "rejected", "cancelled", "arrived", "noshow"]},
    "Only appointments in this status.",
)

# Paging (API.md): a list the caller reads takes both, and answers `next_cursor`. The numbers are
# domain/paging.py's (imported on first use, not at a cold start; tests/http/test_routes.py compares).
LIMIT = Param("limit", "query", {"type": "string", "pattern": r"^[0-9]{1,3}$"}, "Items per page, 1-200 (default 50).")
CURSOR = Param("cursor", "query", {"type": "string", "maxLength": 1000}, "`next_cursor` of the previous page.")
PAGE = (LIMIT, CURSOR)

IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[\x21-\x7e]{1,200}$"},
    "A client-chosen key: repeating the request with the same key and body within 24 hours answers the "
    "first result (200) instead of making another; the same key with another body is 409.",
)

ACCEPT_LANGUAGE = Param(
    "Accept-Language",
    "header",
    {"type": "string", "maxLength": 1000},
    "The person's language (`nb`, `nn` or `en`; `no` and `nb-NO` are bokmål, a list with q-values is read "
    "as browsers send it; anything else is bokmål): their inbox messages, .ics and SMS are in it.",
)
QUEUE_TICKET = Param(
    "X-Queue-Ticket",
    "header",
    {"type": "string", "maxLength": 400},
    "While the timebook's waiting room is on: the caller's admitted ticket (POST /timebooks/{id}/queue).",
)
