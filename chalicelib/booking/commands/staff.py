"""What staff ask: set-up of health contacts, timebooks, locations and opening hours; slot changes
and closures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from chalicelib.domain.appointments import DEFAULT_CANCEL_DEADLINE_HOURS
from chalicelib.domain.forms import Form
from chalicelib.domain.queue import WaitingRoom, Wave
from chalicelib.domain.retention import DEFAULT_RETENTION_DAYS


@dataclass(frozen=True)
class CreateHealthContact:
    organisation: str
    service: str
    her_id: str
    processes: tuple[str, ...] = ("timebestilling", "timereservasjon", "ressursoversikt")
    phone: str | None = None


@dataclass(frozen=True)
class ResourceText:
    """The name and the text under it shown above the calendar (glossary: Resource)."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class CreateTimebook:
    health_contact_id: str
    name: str
    type: str
    resource: ResourceText
    description: str = ""
    requires_confirmation: bool = True
    hold_minutes: int = 10
    cancel_deadline_hours: int = DEFAULT_CANCEL_DEADLINE_HOURS
    max_active_per_person: int | None = 1
    waitlist_offer_minutes: int = 30
    form: Form = field(default_factory=Form)
    retention_days: int = DEFAULT_RETENTION_DAYS
    waiting_room: WaitingRoom | None = None
    waves: tuple[Wave, ...] = ()


@dataclass(frozen=True)
class AddLocation:
    name: str
    address: str
    directions: str = ""


@dataclass(frozen=True)
class AddSchedule:
    """Opening hours that become slots (local Oslo wall-clock times)."""

    location_id: str
    date_from: dt.date
    date_to: dt.date
    weekdays: tuple[int, ...]
    start_time: dt.time
    end_time: dt.time
    slot_minutes: int
    capacity: int


@dataclass(frozen=True)
class ChangeSlot:
    """A new capacity and/or closed (None: leave as is)."""

    capacity: int | None = None
    closed: bool | None = None


@dataclass(frozen=True)
class CloseSlots:
    """Close the slots that start in [start, end)."""

    start: dt.datetime
    end: dt.datetime
    reason: str
    location_id: str | None = None


@dataclass(frozen=True)
class ChangeTimebook:
    """New values for the settings named in `given` (the others are ignored); `version` is the
    timebook's as the staff member last read it (optimistic: a change since is refused)."""

    version: int
    given: frozenset[str]
    requires_confirmation: bool = True
    hold_minutes: int = 10
    cancel_deadline_hours: int = DEFAULT_CANCEL_DEADLINE_HOURS
    max_active_per_person: int | None = 1
    waitlist_offer_minutes: int = 30
    retention_days: int = DEFAULT_RETENTION_DAYS
    waiting_room: WaitingRoom | None = None
    waves: tuple[Wave, ...] = ()
    drop_lists: bool = False  # a wave left out may take its priority list with it

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.given}
