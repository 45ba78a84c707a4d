"""The citizen's own: holds, appointments and the inbox (steps 4-6); the waitlist is in waitlist.py."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool, StringConstraints, model_validator

from chalicelib.http.schemas.common import (
    AppointmentStatus,
    HealthContactRef,
    Identifier,
    In,
    InboxKind,
    IsoDate,
    LocationOut,
    Out,
    PersonRef,
    TimebookRef,
)


class HoldIn(In):
    slot_id: Identifier | None = None
    timebook_id: Identifier | None = None
    location_id: Identifier | None = None
    date: IsoDate | None = None
    # Whom the place is for: the caller (default) or someone in the token's `represents`.
    for_pid: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> HoldIn:
        if bool(self.slot_id) == bool(self.timebook_id):
            raise ValueError("give either slot_id, or timebook_id for the first available time")
        if self.slot_id and (self.location_id or self.date):
            raise ValueError("location_id and date go with timebook_id, not slot_id")
        return self


class AppointmentIn(In):
    hold_id: Identifier | None = None
    slot_id: Identifier | None = None
    for_pid: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    answers: dict[Annotated[str, StringConstraints(max_length=40)], Any] = Field(default_factory=dict, max_length=50)
    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    sms_to_phone: StrictBool = Field(
        default=False,
        description="SMS notices to `phone` as well as to the number in the contact register (KRR); "
        "a person reserved in KRR gets none either way (docs/sms.md).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> AppointmentIn:
        if bool(self.hold_id) == bool(self.slot_id):
            raise ValueError("give either hold_id or slot_id")
        return self


class RescheduleIn(In):
    slot_id: Identifier


class PersonIdRef(Out):
    """Whom a citizen's own appointment is for, with the person's national identity number: the
    caller or someone they represent (the portal tells people apart by it, not by name)."""

    name: str
    pid: str


class HoldOut(Out):
    id: str
    slot_id: str
    location_id: str
    start: str
    end: str
    expires_at: str
    for_: PersonIdRef | None = Field(default=None, alias="for", serialization_alias="for")  # whom it is for

    model_config = ConfigDict(populate_by_name=True)


class AnswerOut(Out):
    question_id: str
    question: str
    answer: str


class AppointmentOut(Out):
    id: str
    status: AppointmentStatus
    start: str
    end: str
    duration_minutes: int
    timebook: TimebookRef
    health_contact: HealthContactRef
    location: LocationOut
    for_: PersonRef = Field(alias="for", serialization_alias="for")
    booked_by: PersonRef
    answers: list[AnswerOut]
    phone: str
    description: str
    sms_to_phone: bool = Field(default=False, description="Whether SMS notices may go to `phone` (asked at booking).")
    reason: str | None = None
    slot_id: str
    created_at: str
    updated_at: str

    model_config = ConfigDict(populate_by_name=True)


class CitizenAppointmentOut(AppointmentOut):
    """An appointment as the citizen (or their representative) sees it: `for` names the person's
    id too. Staff answers (AppointmentOut) keep `for: {name}`."""

    for_: PersonIdRef = Field(alias="for", serialization_alias="for")  # type: ignore[assignment]


class InboxMessageOut(Out):
    id: str
    appointment_id: str
    kind: InboxKind
    title: str
    body: str
    created_at: str
