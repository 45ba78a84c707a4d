"""What the use cases are asked to do: small frozen dataclasses, one per request that carries data.

The HTTP layer validates a request against its model (chalicelib/http/schemas.py) and turns it
into one of these (chalicelib/http/commands.py); a use case never sees the request model. Field
names are the request's own (and the glossary's), so an Idempotency-Key's request hash stays
what it was (`idempotency.request_hash_of`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.forms import Form

# ---- staff set-up ---------------------------------------------------------------------------


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
    cancel_deadline_hours: int = 24
    max_active_per_person: int | None = 1
    waitlist_offer_minutes: int = 30
    form: Form = field(default_factory=Form)


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


# ---- citizen ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TakeHold:
    """A hold on one slot, or on the first available time of a timebook (from `date`)."""

    slot_id: str | None = None
    timebook_id: str | None = None
    location_id: str | None = None
    date: dt.date | None = None
    for_pid: str | None = None


@dataclass(frozen=True)
class BookAppointment:
    """Step 5: from a hold or straight from a slot, with the form's answers."""

    phone: str
    hold_id: str | None = None
    slot_id: str | None = None
    for_pid: str | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class JoinWaitlist:
    timebook_id: str
    location_id: str | None = None
    window_from: dt.datetime | None = None
    window_to: dt.datetime | None = None
    for_pid: str | None = None
