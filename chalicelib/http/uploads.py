"""Priority lists as staff send them (POST /admin/timebooks/{id}/waves/{n}/people): JSON
`{"pids": [...]}`, or `text/csv` with one identity number a line in the first column (a first
line without digits is a header). Errors name the bad entries (`pids.3`) or lines (`line 4`),
never the number itself."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.http.errors import from_validation
from chalicelib.http.requests import MAX_BODY_BYTES, parse_body

_SEPARATORS = re.compile(r"[,;\t]")


def wave_people(request: Any) -> list[str]:
    from chalicelib.http.schemas import WavePeopleIn

    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        return list(parse_body(request, WavePeopleIn).pids)
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput("The request body is too large.", code="body_too_large")
    try:
        text = raw.decode("utf-8-sig")  # a spreadsheet's CSV often starts with a BOM
    except UnicodeDecodeError:
        raise InvalidInput("The CSV must be UTF-8.", code="invalid_csv") from None
    values: list[str] = []
    lines: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        first = _SEPARATORS.split(line, maxsplit=1)[0].strip().strip('"').strip()
        if not first or (number == 1 and not any(c.isdigit() for c in first)):
            continue
        lines[f"pids.{len(values)}"] = f"line {number}"
        values.append(first)
    try:
        return list(WavePeopleIn.model_validate({"pids": values}).pids)
    except ValidationError as error:
        raise from_validation(error, lines) from None


def wave_ref(text: str) -> str:
    """The wave in the path, its index or its id: one that cannot exist is as unknown as one that does not."""
    if not text.isalnum() or not text.isascii() or len(text) > 40:
        raise NotFound("No such wave in this timebook.", code="wave_not_found")
    return text
