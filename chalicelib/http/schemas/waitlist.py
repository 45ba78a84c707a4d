"""The citizen's waitlist: joining it, and the entry with its offer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from chalicelib.http.schemas.common import Identifier, In, Out, WaitlistStatus


class WaitlistIn(In):
    """POST /waitlist: wait for a place in a timebook, at a location and in a time window if given."""

    timebook_id: Identifier
    location_id: Identifier | None = None
    window_from: dt.datetime | None = Field(default=None, alias="from")
    window_to: dt.datetime | None = Field(default=None, alias="to")
    for_pid: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None

    @field_validator("window_from", "window_to")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a time with offset, e.g. 2024-03-01T08:00:00+01:00")
        if value is not None and not 2000 <= value.year <= 2100:
            raise ValueError("must be between 2000 and 2100")
        return value

    @field_validator("window_to")
    @classmethod
    def _after_from(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        start = info.data.get("window_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be after 'from'")
        return value


class WaitlistOfferOut(Out):
    hold_id: str
    slot_id: str
    start: str
    end: str
    expires_at: str


class WaitlistEntryOut(Out):
    id: str
    timebook_id: str
    location_id: str | None
    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str | None
    status: WaitlistStatus
    offer: WaitlistOfferOut | None
    created_at: str
    position: int | None = None  # a live entry's place in its timebook's line, 1-based (GET /waitlist)

    model_config = ConfigDict(populate_by_name=True)
