"""Public discovery and availability (steps 1-3): health contacts, timebooks, calendars, slots."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from chalicelib.http.schemas.common import HealthContactRef, LocationOut, Out, QuestionKind


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


class WaitingRoomOut(Out):
    enabled: bool
    admit_per_minute: int


class WaveOut(Out):
    opens_at: str
    born_from: str | None  # None: a wave of its priority list only
    born_to: str | None
    id: str  # stable: a settings change that gives it back keeps the wave (and its priority list)


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
    retention_days: int = 90
    form: FormOut
    locations: list[LocationOut]
    waiting_room: WaitingRoomOut | None = None
    waves: list[WaveOut] = Field(default_factory=list)
    version: int = 0  # the settings' version: PATCH /admin/timebooks/{id} names it


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
