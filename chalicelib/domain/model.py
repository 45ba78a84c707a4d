"""The glossary's things as the use cases hand them out: plain frozen dataclasses.

What a use case returns to the HTTP layer (and what the presenters turn into responses) is one
of these, never a stored item: chalicelib/storage/mapping.py makes them from the items. Times
are ISO 8601 text with offset, as stored and as the API speaks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import epoch
from chalicelib.domain import capacity, limits, slots
from chalicelib.domain.capacity import Claim
from chalicelib.domain.forms import Answer, Form
from chalicelib.domain.holds import HoldRef, live_hold
from chalicelib.domain.limits import Lane
from chalicelib.domain.retention import DEFAULT_RETENTION_DAYS, ERASED
from chalicelib.domain.waitlist import EntryStatus, Offer

if TYPE_CHECKING:  # a timebook without waves or a waiting room never loads their rules
    from chalicelib.domain.queue import WaitingRoom, Wave


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
    """A health contact as a timebook or an appointment names it."""

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
    """What a citizen books in: its resource, form and locations, and the rules it sets."""

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
    retention_days: int = DEFAULT_RETENTION_DAYS  # personal data is erased this long after the end
    waiting_room: WaitingRoom | None = None  # while enabled, holds need an admitted ticket (domain/queue.py)
    waves: tuple[Wave, ...] = ()  # opening by birth cohort (domain/queue.py)
    version: int = 0  # counts settings changes: an edit names the version it read (optimistic)
    priority_lists: bool = False  # a wave names people too: a hold before the last wave looks them up
    listed_waves: frozenset[str] = frozenset()  # the ids of the waves with a priority list

    @property
    def her_id(self) -> str:
        """Whose staff administer it (their token's orgs)."""
        return self.health_contact.her_id

    def location(self, location_id: str) -> Location | None:
        return next((place for place in self.locations if place.id == location_id), None)

    @property
    def gated(self) -> bool:
        """Waves, or a waiting room that is on: a hold or booking must pass booking/queue.py first."""
        return bool(self.waves) or (self.waiting_room is not None and self.waiting_room.enabled)


@dataclass(frozen=True)
class TimebookRef:
    """A timebook as an appointment names it."""

    id: str
    name: str
    type: str


@dataclass(frozen=True)
class Slot:
    """Ledig time: a start and end in one location with `capacity` places, each carrying at most
    one claim (domain/capacity.py). Its rules live here so that no reader can leave one out."""

    slot_id: str
    timebook_id: str
    location_id: str
    start: str
    end: str
    capacity: int
    closed: bool = False
    claims: Mapping[int, Claim] = field(default_factory=dict, compare=False, repr=False)

    @property
    def starts_at(self) -> datetime:
        return datetime.fromisoformat(self.start)

    @property
    def ends_at(self) -> datetime:
        return datetime.fromisoformat(self.end)

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def begun(self, now: datetime) -> bool:
        return slots.begun(self.starts_at, now)

    @property
    def offered_places(self) -> int:
        """A slot staff closed (PATCH, or a closure) offers no place, whatever its capacity."""
        return 0 if self.closed else self.capacity

    def free_places(self, now: datetime) -> list[int]:
        """The places a hold or booking may take now: within the capacity of an open slot, with
        no live claim (an expired hold is free at once)."""
        return capacity.free_places(self.offered_places, self.claims, epoch(now))

    def taken_places(self, now: datetime) -> list[int]:
        return capacity.taken_places(self.claims, epoch(now))


@dataclass(frozen=True)
class Person:
    """A person in one timebook as last read: their one live hold and their lanes (the
    per-person limit). `exists` False: nothing stored yet. A write that changes the person is
    conditioned on exactly this state (storage/claims.py `person_part`)."""

    timebook_id: str
    pid: str
    exists: bool = False
    hold: str | None = None
    hold_expires_at: int | None = None
    lanes: Mapping[int, Lane] = field(default_factory=dict, compare=False)

    def require_lane(self, limit: int | None, now: datetime) -> int | None:
        """The lane a new hold or appointment of theirs takes (None: no limit); 409
        active_appointment_exists when every lane is taken."""
        return limits.require_lane(limit, self.lanes, epoch(now))

    def live_hold(self, now: datetime) -> HoldRef | None:
        """Their current hold, if still live: a new hold replaces it and frees its place."""
        return live_hold(self.hold, self.hold_expires_at, epoch(now))


@dataclass(frozen=True)
class Hold:
    """A short claim on one place in a slot (reservasjon), until `expires_at`."""

    id: str
    slot_id: str
    location_id: str
    start: str
    end: str
    expires_at: datetime
    for_pid: str = ""  # whom the place is for (the caller, or someone they represent)
    for_name: str = ""


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
    lane: int | None = None  # the person lane it occupies (timebooks with a per-person limit)
    reminded_on: str | None = None  # the local date of the last reminder sent
    language: str = "nb"  # the person's language when booked (nb, nn, en): their messages, .ics and SMS
    sms_to_phone: bool = False  # the person asked for SMS to `phone` too (messaging/sms.py decides)

    @property
    def erased(self) -> bool:
        """Past its retention (domain/retention.py): no one's any more, kept for statistics only."""
        return self.for_pid == ERASED


@dataclass(frozen=True)
class InboxMessage:
    """A message in a citizen's inbox about one of their appointments."""

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
    position: int | None = None  # a live entry's place in its timebook's line, 1-based (GET /waitlist)


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit log: who did what to what, and when."""

    id: str
    at: str
    actor: str  # who acted (the token's sub): a staff member, or a citizen (actor_role says)
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
    timebook_id: str = ""  # whose log it is in
    at_utc: str = ""  # the same moment in UTC with milliseconds: the log's order across DST
    actor_role: str | None = None  # the Principal's role; None: written before roles were (retention.py)


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an Idempotency-Key's first request made (`result_id`), kept until `ttl` (epoch)."""

    owner: str
    scope: str
    key: str
    request_hash: str
    result_id: str
    ttl: int


@dataclass(frozen=True)
class Event:
    """A note for someone's inbox that is not an appointment change (a waitlist offer, a closure
    told to a waiting person); `appointment_id` names what it is about (a waitlist entry's id)."""

    event_id: str
    kind: str
    appointment_id: str
    created_at: str
    payload: dict[str, str]
    ttl: int  # epoch seconds: the stored event is removed after it
