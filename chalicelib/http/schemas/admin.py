"""Staff: setting up health contacts, timebooks, locations and opening hours; changing slots,
closures, the day's overview and the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.domain.appointments import DEFAULT_CANCEL_DEADLINE_HOURS
from chalicelib.domain.identity import validate_pid
from chalicelib.domain.retention import DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS
from chalicelib.http.schemas.common import (
    AppointmentStatus,
    Identifier,
    In,
    IsoDate,
    LongText,
    Out,
    PersonRef,
    Process,
    QuestionKind,
    Text,
    TimebookType,
)


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


class WaitingRoomIn(In):
    """While enabled, holds need an admitted ticket; the schedule admits this many a minute."""

    enabled: bool = False
    admit_per_minute: int = Field(default=60, ge=1, le=100_000)


class WaveIn(In):
    """People born in [born_from, born_to] (inclusive, from the identity number) hold from opens_at."""

    opens_at: dt.datetime
    born_from: IsoDate | None = None  # both or neither: a wave of a priority list only has neither
    born_to: IsoDate | None = None
    # The wave's id as read (GET /timebooks/{id}): a PATCH keeps that wave, and its priority list,
    # wherever it now stands; none: a new wave.
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,40}$")] | None = None

    @field_validator("opens_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a time with offset, e.g. 2024-03-01T08:00:00+01:00")
        if not 2000 <= value.year <= 2100:
            raise ValueError("must be between 2000 and 2100")
        return value

    @field_validator("born_from", "born_to")
    @classmethod
    def _birth_year(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not 1850 <= value.year <= 2100:
            raise ValueError("must be between 1850 and 2100")
        return value

    @field_validator("born_to")
    @classmethod
    def _after_from(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("born_from")
        if start is not None and value is not None and value < start:
            raise ValueError("must not be before born_from")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> WaveIn:
        if (self.born_from is None) != (self.born_to is None):
            raise ValueError("give born_from and born_to, or neither (a wave of its priority list only)")
        return self


class TimebookSettingsIn(In):
    """The settings a timebook is created with and staff may change later (PATCH): one home for
    their validation."""

    requires_confirmation: bool = True
    hold_minutes: int = Field(default=10, ge=1, le=60)
    cancel_deadline_hours: int = Field(default=DEFAULT_CANCEL_DEADLINE_HOURS, ge=0, le=720)
    # At most this many active appointments per person in this timebook; null means no limit.
    max_active_per_person: int | None = Field(default=1, ge=1, le=100)
    # How long a waitlist offer holds its place for the person offered it.
    waitlist_offer_minutes: int = Field(default=30, ge=1, le=1440)
    # Days after an appointment's end before its personal data is erased (booking/retention.py).
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS)
    waiting_room: WaitingRoomIn | None = None  # the waiting room (issue 20)
    waves: list[WaveIn] = Field(default_factory=list, max_length=50)  # opening by birth cohort


class TimebookIn(TimebookSettingsIn):
    health_contact_id: Identifier
    name: Text
    type: TimebookType
    description: LongText = ""
    resource: ResourceIn
    form: FormIn = Field(default_factory=FormIn)


class TimebookPatchIn(TimebookSettingsIn):
    """PATCH /admin/timebooks/{id}: the settings given change, the rest stay. `version` is the
    timebook's as last read: someone else's change since is 409 `timebook_changed`, not overwritten."""

    version: int = Field(ge=0)
    # Leaving out a wave with a priority list is 409 `wave_has_list` unless this says the lists go too.
    drop_lists: bool = False

    @model_validator(mode="after")
    def _something(self) -> TimebookPatchIn:
        if not self.given:
            raise ValueError("give at least one setting to change")
        return self

    @property
    def given(self) -> frozenset[str]:
        """The settings in the request (a setting left out keeps its value; null is a value)."""
        return frozenset(self.model_fields_set - {"version", "drop_lists"})


# One request carries at most this many (64 KiB of JSON or CSV); a longer list is several requests.
MAX_WAVE_PEOPLE = 4000


class WavePeopleIn(In):
    """POST /admin/timebooks/{id}/waves/{n}/people: fødselsnummer or D-nummer, each checked."""

    pids: list[Annotated[str, AfterValidator(validate_pid)]] = Field(min_length=1, max_length=MAX_WAVE_PEOPLE)


class WavePeopleOut(Out):
    wave: int  # the wave's index now
    wave_id: str  # the wave's id: its list stays with it whatever a PATCH does to the order
    added: int  # people in this request (the same person twice counts once)


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


class ScheduleOut(Out):
    created: int


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
    id: str = ""  # GET /admin/closures/{id} answers its progress
    closed_slots: int
    cancelled: int
    notified: int
    complete: bool = True  # false: the rest goes on in the background (within a minute or two)
    remaining: int = 0  # active appointments still to cancel (0 once complete)


class ClosurePreviewOut(Out):
    """POST /admin/timebooks/{id}/closures/preview: what the closure would do now (nothing written)."""

    closed_slots: int  # open slots it would close
    cancelled: int  # active appointments it would cancel
    notified: int  # waitlist entries it would tell
    # distinct persons who would get a message: whom each appointment and entry is for, and who
    # booked or joined for them
    people: int


class BulkConfirmIn(In):
    """POST /admin/appointments/confirm: confirm several requests; each is its own transaction."""

    ids: Annotated[list[Identifier], Field(min_length=1, max_length=50)]


class BulkErrorOut(Out):
    code: str
    message: str


class BulkResultOut(Out):
    id: str
    status: str | None = None  # the new status, where it was confirmed
    error: BulkErrorOut | None = None  # why not, where it was not


class BulkConfirmOut(Out):
    results: list[BulkResultOut]


class DayListItemOut(Out):
    appointment_id: str
    start: str
    end: str
    location_id: str
    name: str
    birth_date: str  # from the identity number; the number itself is not shown
    status: str


class AuditRecordOut(Out):
    id: str
    at: str
    actor: str  # the staff member's id (the token's sub), masked: birth date digits only
    action: str
    target: str
    detail: dict[str, Any]


class WaitingOut(Out):
    position: int
    id: str
    status: str
    location_id: str | None = None
    from_: str | None = Field(default=None, serialization_alias="from")
    to: str | None = None
    person: str  # the identity number masked, never whole
    birth_date: str
    created_at: str
    offer: dict[str, str] | None = None  # {start, end, expires_at} while offered


class FiguresOut(Out):
    """GET /admin/figures: one process's business figures (chalicelib/metrics.py)."""

    scope: str  # "process": this instance only
    seconds: float  # since the process started counting
    counters: dict[str, int]  # Holds, Bookings, LostRaces, Throttled, ConflictsRetried, ...
    gauges: dict[str, float]  # the latest RelayLagSeconds, QueueLength
