"""The glossary's things as the use cases hand them out: plain frozen dataclasses.

What a use case returns to the HTTP layer (and what the presenters turn into responses) is one
of these, never a stored item: chalicelib/storage/mapping.py makes them from the items. Times
are ISO 8601 text with offset, as stored and as the API speaks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.forms import Answer, Form
from chalicelib.domain.waitlist import EntryStatus, Offer


@dataclass(frozen=True)
class HealthContact:
    """An organisation's service (helsekontakt), identified by its HER-id."""

    id: str
    organisation: str
    service: str
    her_id: str
    processes: tuple[str, ...] = ()
    phone: str | None = None  # the service's public booking phone

    @property
    def name(self) -> str:
        return f"{self.organisation} {self.service}"


@dataclass(frozen=True)
class HealthContactRef:
    id: str
    name: str
    her_id: str = ""


@dataclass(frozen=True)
class Resource:
    """The name shown above the calendar (behandler/ressurs) and the text under it."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Location:
    """Oppmøtested: where to show up."""

    id: str
    name: str
    address: str
    directions: str = ""


@dataclass(frozen=True)
class Timebook:
    id: str
    name: str
    type: str
    description: str
    health_contact: HealthContactRef
    resource: Resource
    slot_minutes: int | None
    requires_confirmation: bool
    hold_minutes: int
    cancel_deadline_hours: int
    max_active_per_person: int | None
    waitlist_offer_minutes: int
    form: Form
    locations: tuple[Location, ...] = ()


@dataclass(frozen=True)
class TimebookRef:
    id: str
    name: str
    type: str


@dataclass(frozen=True)
class Slot:
    slot_id: str
    timebook_id: str
    location_id: str
    start: str
    end: str
    capacity: int
    closed: bool = False


@dataclass(frozen=True)
class Hold:
    """A short claim on one place in a slot (reservasjon), until `expires_at`."""

    id: str
    slot_id: str
    location_id: str
    start: str
    end: str
    expires_at: datetime


@dataclass(frozen=True)
class Appointment:
    """Timeavtale. `for_pid` is whom it is for; `place` is the place it holds in its slot."""

    id: str
    status: str
    version: int
    slot_id: str
    place: int
    start: str
    end: str
    duration_minutes: int
    cancel_deadline_hours: int
    timebook: TimebookRef
    health_contact: HealthContactRef
    location: Location
    for_pid: str
    for_name: str
    booked_by: str
    booked_by_name: str
    answers: tuple[Answer, ...]
    phone: str
    description: str
    reason: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class InboxMessage:
    id: str
    appointment_id: str
    kind: str
    title: str
    body: str
    created_at: str


@dataclass(frozen=True)
class WaitlistEntry:
    """An entry as it is now: `status` is the effective one (a lapsed offer shows expired)."""

    id: str
    timebook_id: str
    location_id: str | None
    window_from: str | None
    window_to: str | None
    status: EntryStatus
    offer: Offer | None
    created_at: str  # UTC with milliseconds, as entries sort


@dataclass(frozen=True)
class AuditRecord:
    id: str
    at: str
    actor: str  # the staff member's id (the token's sub)
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
