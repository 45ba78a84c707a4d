"""Request and response models of API.md (pydantic v2); the OpenAPI document is built from them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TimebookType = Literal["koronatest", "koronavaksine", "lab", "vaksine", "konsultasjon", "annet"]
Process = Literal["timebestilling", "timereservasjon", "ressursoversikt"]
QuestionKind = Literal["yes_no", "choice", "text"]
AppointmentStatus = Literal["requested", "booked", "rejected", "cancelled"]
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


# ---- staff set-up ---------------------------------------------------------------------------


class HealthContactIn(In):
    organisation: Text
    service: Text
    her_id: Annotated[str, StringConstraints(pattern=r"^\d{1,10}$")]
    processes: list[Process] = Field(default_factory=lambda: ["timebestilling", "timereservasjon", "ressursoversikt"])
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ]{8,20}$")] | None = None  # public booking phone


class QuestionIn(In):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    kind: QuestionKind = "yes_no"
    required: bool = True
    options: list[Text] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _options_fit_kind(self) -> QuestionIn:
        if self.kind == "choice" and not self.options:
            raise ValueError("a choice question needs options")
        if self.kind != "choice" and self.options:
            raise ValueError("only choice questions have options")
        return self


class FormIn(In):
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    questions: list[QuestionIn] = Field(default_factory=list, max_length=50)

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, questions: list[QuestionIn]) -> list[QuestionIn]:
        ids = [q.id for q in questions]
        if len(ids) != len(set(ids)):
            raise ValueError("question ids must be unique")
        return questions


class ResourceIn(In):
    name: Text
    description: LongText = ""


class TimebookIn(In):
    health_contact_id: Identifier
    name: Text
    type: TimebookType
    description: LongText = ""
    resource: ResourceIn
    requires_confirmation: bool = True
    hold_minutes: int = Field(default=10, ge=1, le=60)
    cancel_deadline_hours: int = Field(default=24, ge=0, le=720)
    # At most this many active appointments per person in this timebook; null means no limit.
    max_active_per_person: int | None = Field(default=1, ge=1, le=100)
    # How long a waitlist offer holds its place for the person offered it.
    waitlist_offer_minutes: int = Field(default=30, ge=1, le=1440)
    form: FormIn = Field(default_factory=FormIn)


class LocationIn(In):
    name: Text
    address: Text
    directions: LongText = ""


# One request makes at most this many slots: 20 transactions of 100 puts, a second or two in
# DynamoDB, well within the API Lambda's 10 s. A larger set-up is several requests.
MAX_SLOTS_PER_SCHEDULE = 2000


class ScheduleIn(In):
    """Opening hours that become slots. Cross-field errors name the field they are about."""

    location_id: Identifier
    date_from: IsoDate = Field(alias="from")
    date_to: IsoDate = Field(alias="to")
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1, max_length=7)
    start_time: dt.time
    end_time: dt.time
    slot_minutes: int = Field(ge=5, le=480)
    capacity: int = Field(ge=1, le=100)

    @field_validator("start_time", "end_time")
    @classmethod
    def _local_wall_clock(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError("opening hours are local Oslo wall-clock times, without an offset")
        if value.second or value.microsecond:
            raise ValueError("opening hours are whole minutes (HH:MM)")
        return value

    @field_validator("date_from", "date_to")
    @classmethod
    def _sensible_year(cls, value: dt.date) -> dt.date:
        if not 2000 <= value.year <= 2100:
            raise ValueError("must be between 2000 and 2100")
        return value

    @field_validator("date_to")
    @classmethod
    def _after_from(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("date_from")
        if start is not None and value < start:
            raise ValueError("must not be before 'from'")
        if start is not None and (value - start).days > 366:
            raise ValueError("a schedule window spans at most 366 days")
        return value

    @field_validator("end_time")
    @classmethod
    def _after_start(cls, value: dt.time, info: ValidationInfo) -> dt.time:
        start = info.data.get("start_time")
        if start is not None and value <= start:
            raise ValueError("must be after start_time")
        return value

    @field_validator("slot_minutes")
    @classmethod
    def _not_too_many_slots(cls, value: int, info: ValidationInfo) -> int:
        data = info.data
        if all(k in data for k in ("date_from", "date_to", "start_time", "end_time")):
            span = (data["date_to"] - data["date_from"]).days + 1
            weekdays = set(data.get("weekdays") or range(1, 8))
            days = sum(1 for n in range(span) if (data["date_from"] + dt.timedelta(days=n)).isoweekday() in weekdays)
            minutes = (data["end_time"].hour * 60 + data["end_time"].minute) - (
                data["start_time"].hour * 60 + data["start_time"].minute
            )
            if days * (minutes // value) > MAX_SLOTS_PER_SCHEDULE:
                raise ValueError(f"one schedule makes at most {MAX_SLOTS_PER_SCHEDULE} slots: post it in parts")
        return value


class SlotPatchIn(In):
    """PATCH /admin/slots/{id}: a new capacity (not below the places taken) and/or closed."""

    capacity: int | None = Field(default=None, ge=0, le=100)
    closed: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> SlotPatchIn:
        if self.capacity is None and self.closed is None:
            raise ValueError("give capacity, closed or both")
        return self


MAX_CLOSURE_DAYS = 366


class ClosureIn(In):
    """POST /admin/timebooks/{id}/closures: close the slots that start in [from, to)."""

    location_id: Identifier | None = None
    start: dt.datetime = Field(alias="from")
    end: dt.datetime = Field(alias="to")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a time with offset, e.g. 2024-03-01T08:00:00+01:00")
        if not 2000 <= value.year <= 2100:
            raise ValueError("must be between 2000 and 2100")
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("must be after 'from'")
        if start is not None and (value - start).days > MAX_CLOSURE_DAYS:
            raise ValueError(f"a closure spans at most {MAX_CLOSURE_DAYS} days")
        return value


class ReasonIn(In):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


# ---- citizen ----------------------------------------------------------------------------------


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

    @model_validator(mode="after")
    def _one_source(self) -> AppointmentIn:
        if bool(self.hold_id) == bool(self.slot_id):
            raise ValueError("give either hold_id or slot_id")
        return self


class RescheduleIn(In):
    slot_id: Identifier


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


class RepresentedIn(In):
    pid: str
    name: str = ""


class DevTokenIn(In):
    sub: str
    role: Literal["citizen", "staff"]
    name: str = ""
    orgs: list[str] = Field(default_factory=list)
    represents: list[RepresentedIn] = Field(default_factory=list, max_length=10)


# ---- responses --------------------------------------------------------------------------------


class HealthContactOut(Out):
    id: str
    name: str
    organisation: str
    service: str
    her_id: str
    processes: list[str] = Field(default_factory=list)
    phone: str | None = None


class TimebookSummaryOut(Out):
    id: str
    name: str
    type: str
    description: str


class ResourceOut(Out):
    name: str
    description: str = ""


class QuestionOut(Out):
    id: str
    text: str
    kind: QuestionKind
    required: bool
    options: list[str] = Field(default_factory=list)


class FormOut(Out):
    title: str = ""
    questions: list[QuestionOut] = Field(default_factory=list)


class LocationOut(Out):
    id: str
    name: str
    address: str
    directions: str = ""


class HealthContactRef(Out):
    id: str
    name: str


class TimebookOut(Out):
    id: str
    name: str
    type: str
    description: str
    health_contact: HealthContactRef
    resource: ResourceOut
    slot_minutes: int | None
    requires_confirmation: bool
    hold_minutes: int
    cancel_deadline_hours: int
    max_active_per_person: int | None = None
    waitlist_offer_minutes: int = 30
    form: FormOut
    locations: list[LocationOut]


class CalendarDayOut(Out):
    date: dt.date
    free: int


class CalendarOut(Out):
    month: str
    days: list[CalendarDayOut]


class SlotOut(Out):
    id: str
    start: str
    end: str
    location_id: str
    free: int


class SlotsOut(Out):
    date: dt.date
    items: list[SlotOut]


class ScheduleOut(Out):
    created: int


class HoldOut(Out):
    id: str
    slot_id: str
    location_id: str
    start: str
    end: str
    expires_at: str


class TimebookRef(Out):
    id: str
    name: str
    type: str


class PersonRef(Out):
    name: str


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
    reason: str | None = None
    slot_id: str
    created_at: str
    updated_at: str

    model_config = ConfigDict(populate_by_name=True)


class InboxMessageOut(Out):
    id: str
    appointment_id: str
    kind: InboxKind
    title: str
    body: str
    created_at: str


class OverviewAppointmentOut(Out):
    id: str
    status: AppointmentStatus
    for_: PersonRef = Field(alias="for", serialization_alias="for")

    model_config = ConfigDict(populate_by_name=True)


class OverviewSlotOut(Out):
    slot_id: str
    start: str
    end: str
    location_id: str
    capacity: int
    booked: int
    held: int
    closed: bool = False
    appointments: list[OverviewAppointmentOut]


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

    model_config = ConfigDict(populate_by_name=True)


class SlotAdminOut(Out):
    id: str
    start: str
    end: str
    location_id: str
    capacity: int
    closed: bool
    taken: int
    free: int


class ClosureOut(Out):
    closed_slots: int
    cancelled: int
    notified: int
    complete: bool = True  # false: the rest goes on in the background (within a minute or two)


class AuditRecordOut(Out):
    id: str
    at: str
    actor: str  # the staff member's id (the token's sub)
    action: str
    target: str
    detail: dict[str, Any]


class TokenOut(Out):
    token: str


class FieldErrorOut(Out):
    field: str
    message: str


class ErrorBodyOut(Out):
    code: str
    message: str
    fields: list[FieldErrorOut] | None = None


class ErrorOut(Out):
    error: ErrorBodyOut
