"""What every area's models share: the request and response bases, the field types and the
references one response embeds in another."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TimebookType = Literal["koronatest", "koronavaksine", "lab", "vaksine", "konsultasjon", "annet"]
Process = Literal["timebestilling", "timereservasjon", "ressursoversikt"]
QuestionKind = Literal["yes_no", "choice", "text"]
AppointmentStatus = Literal["requested", "booked", "rejected", "cancelled", "arrived", "noshow"]
InboxKind = Literal["requested", "confirmed", "rejected", "cancelled", "rescheduled", "reminder", "offer", "closed"]
WaitlistStatus = Literal["waiting", "offered", "booked", "expired", "withdrawn"]


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_text(value: Any) -> Any:
    """Exactly YYYY-MM-DD: no trailing newline, no ISO week or basic format, no timestamp."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]


def unencodable(value: Any) -> bool:
    """True if any text in `value` (nested in lists and objects too) has a NUL or cannot be
    stored as UTF-8 (a lone UTF-16 surrogate, as JSON's "\\ud800" makes)."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(unencodable(k) or unencodable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unencodable(v) for v in value)
    return False


class In(BaseModel):
    """Requests: unknown fields are refused so a typo is an error, not silently ignored; text that
    cannot be stored is refused by the field it came in (400, never a 503 from the database).

    defer_build (here and in Out): a model's validator is built on first use, not at import,
    which keeps a Lambda cold start short (scripts/import_ratio.py measures it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if unencodable(value):
            raise ValueError("must be text without NUL characters or lone UTF-16 surrogates")
        return value


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class HealthContactRef(Out):
    id: str
    name: str


class TimebookRef(Out):
    id: str
    name: str
    type: str


class PersonRef(Out):
    name: str


class LocationOut(Out):
    id: str
    name: str
    address: str
    directions: str = ""
