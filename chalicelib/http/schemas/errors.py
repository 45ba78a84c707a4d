"""The error body of API.md: every 4xx and 5xx answer (chalicelib/http/errors.py makes them as plain
JSON; this model documents them in the OpenAPI document)."""

from __future__ import annotations

from chalicelib.http.schemas.common import Out


class FieldErrorOut(Out):
    field: str
    message: str


class ErrorBodyOut(Out):
    code: str
    message: str
    fields: list[FieldErrorOut] | None = None
    opens_at: str | None = None  # not_open_yet: when the wave of the person the place is for opens


class ErrorOut(Out):
    error: ErrorBodyOut
