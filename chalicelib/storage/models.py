"""PynamoDB models of the one Timebok table (single-table design, see keys.py).

Table name, region and timeouts come from chalicelib.settings (the environment, set per stage in
.chalice/config.json and by the local stand-in), so the same code runs locally and in AWS.
"""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import settings
from chalicelib.domain.appointments import DEFAULT_CANCEL_DEADLINE_HOURS
from chalicelib.domain.holds import DEFAULT_HOLD_MINUTES
from chalicelib.domain.waitlist import DEFAULT_OFFER_MINUTES


def table_name() -> str:
    return settings.get().table_name


def region() -> str:
    return settings.get().region


class _Meta:
    table_name = table_name()
    region = region()
    # Lambda reuses connections across invocations; a short timeout fails fast in a surge.
    connect_timeout_seconds = settings.get().dynamodb_connect_timeout
    read_timeout_seconds = settings.get().dynamodb_read_timeout
    max_retry_attempts = 3
    max_pool_connections = 32  # the local server's threads share one client


_client_lock = threading.Lock()
_client: Any = None  # the botocore client every model's connection uses


def forget_client() -> None:
    """The next request makes a new client (the endpoint, region or credentials changed)."""
    global _client
    with _client_lock:
        _client = None


class TimebokModel(Model):
    """A model whose connection uses the one botocore client of this process.

    PynamoDB makes a client per model class, lazily and without a lock, each in a botocore session
    of its own (some 60 ms of CPU: the endpoint and service data parsed again). A burst reaching a
    model no request has used yet (200 joins of a waiting room, each its own thread in `make run`)
    made one client per thread, seconds of CPU in all; and a Lambda's cold start paid for one per
    model it touched. Here the first request makes the one client while the others wait for it."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        global _client
        table = super()._get_connection()
        connection = table.connection
        if connection._client is None:  # PynamoDB 6.1's slot for the client; `client` makes one
            with _client_lock:
                if _client is None:
                    _client = connection.client  # with the models' timeouts, retries and pool (_Meta)
                connection._client = _client
        return table


def _gsi(name: str) -> type[GlobalSecondaryIndex]:
    """A fresh index class per model (PynamoDB binds an index class to one model)."""
    meta = type("Meta", (), {"index_name": name, "projection": AllProjection()})
    namespace = {
        "Meta": meta,
        f"{name}pk": UnicodeAttribute(hash_key=True, attr_name=f"{name}pk"),
        f"{name}sk": UnicodeAttribute(range_key=True, attr_name=f"{name}sk"),
    }
    return type(f"{name.capitalize()}Index", (GlobalSecondaryIndex,), namespace)


class HealthContactItem(TimebokModel):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_name = _gsi("gsi1")()
    id = UnicodeAttribute()
    organisation = UnicodeAttribute()
    service = UnicodeAttribute()
    her_id = UnicodeAttribute()
    processes = ListAttribute(of=UnicodeAttribute, default=list)
    phone = UnicodeAttribute(null=True)  # the service's public booking phone (the feed's booking-phone)
    created_at = UnicodeAttribute()

    @property
    def name(self) -> str:
        return f"{self.organisation} {self.service}"


class HerIdItem(TimebokModel):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    health_contact_id = UnicodeAttribute()


class TimebookItem(TimebokModel):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_health_contact = _gsi("gsi1")()
    id = UnicodeAttribute()
    health_contact_id = UnicodeAttribute()
    health_contact_name = UnicodeAttribute()
    her_id = UnicodeAttribute()
    name = UnicodeAttribute()
    type = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    resource = MapAttribute(default=dict)
    requires_confirmation = BooleanAttribute(default=True)
    hold_minutes = NumberAttribute(default=DEFAULT_HOLD_MINUTES)
    cancel_deadline_hours = NumberAttribute(default=DEFAULT_CANCEL_DEADLINE_HOURS)
    max_active_per_person = NumberAttribute(null=True)
    slot_minutes = NumberAttribute(null=True)
    waitlist_offer_minutes = NumberAttribute(default=DEFAULT_OFFER_MINUTES)
    retention_days = NumberAttribute(null=True)  # None: domain/retention.DEFAULT_RETENTION_DAYS
    form = MapAttribute(default=dict)
    locations = ListAttribute(default=list)
    created_at = UnicodeAttribute()
    waiting_room = MapAttribute(null=True)  # {enabled, admit_per_minute}
    waves = ListAttribute(null=True)  # [{opens_at, born_from, born_to}]
    version = NumberAttribute(null=True)  # settings changes (PATCH): absent on an unchanged timebook
    priority_lists = BooleanAttribute(null=True)  # a wave has a priority list: holds look the person up
    listed_waves = UnicodeSetAttribute(null=True)  # the ids of the waves with a list (a PATCH keeps them)


class SlotItem(TimebokModel):
    """One item per slot; its places map holds every claim (see domain/capacity.py)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    holds_to_sweep = _gsi("gsi2")()
    slot_id = UnicodeAttribute()
    timebook_id = UnicodeAttribute()
    location_id = UnicodeAttribute()
    start = UnicodeAttribute()
    end = UnicodeAttribute()
    capacity = NumberAttribute()
    places = MapAttribute(default=dict)
    closed = BooleanAttribute(null=True)  # staff closed it: no new claims (domain/capacity.py)


class DaySummaryItem(TimebokModel):
    """Availability of one timebook, day and location (domain/availability.py): per slot
    `{"HHMM": {"c": capacity, "m": minutes, "b": booked, "h": [hold expiries]}}`. Refreshed from
    the slots by readers once older than the stated staleness; no booking writes it."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    timebook_id = UnicodeAttribute()
    location_id = UnicodeAttribute()
    date = UnicodeAttribute()
    slots = MapAttribute(default=dict)
    refreshed_at = NumberAttribute(default=0)  # epoch milliseconds
    version = NumberAttribute(default=0)  # bumped when slots are added: a refresh must not drop them


class AppointmentItem(TimebokModel):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_person = _gsi("gsi1")()
    by_timebook = _gsi("gsi2")()
    id = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute(default=0)
    slot_id = UnicodeAttribute()
    place = NumberAttribute()
    lane = NumberAttribute(null=True)  # the person lane it occupies (timebooks with a per-person limit)
    timebook = MapAttribute(default=dict)  # {id, name, type}
    health_contact = MapAttribute(default=dict)  # {id, name, her_id}
    location = MapAttribute(default=dict)  # {id, name, address, directions}
    start = UnicodeAttribute()
    end = UnicodeAttribute()
    duration_minutes = NumberAttribute()
    cancel_deadline_hours = NumberAttribute(default=DEFAULT_CANCEL_DEADLINE_HOURS)
    for_pid = UnicodeAttribute()
    for_name = UnicodeAttribute(default="")
    booked_by = UnicodeAttribute()
    booked_by_name = UnicodeAttribute(default="")
    answers = ListAttribute(default=list)  # [{question_id, question, answer}]
    phone = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    reason = UnicodeAttribute(null=True)
    reminded_on = UnicodeAttribute(null=True)  # the local date of the last reminder sent
    language = UnicodeAttribute(default="nb")  # nb, nn or en; items from before it read as nb
    sms_to_phone = BooleanAttribute(default=False)  # SMS to `phone` asked for; items from before it read as no
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # The change's event, written by the change itself: {"k": kind, ...extras}. The table's
    # stream carries it to the relay (chalicelib/messaging/relay.py); its id and time come from
    # the item (id, version, updated_at), so it costs a few bytes, not an item (docs/outbox.md).
    event = MapAttribute(null=True, attr_name="ev")


class IdempotencyItem(TimebokModel):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    request_hash = UnicodeAttribute()
    result_id = UnicodeAttribute()  # the appointment or hold the first request made
    ttl = NumberAttribute()


class PersonItem(TimebokModel):
    """One person in one timebook (see domain/limits.py): their current hold, and one lane per
    active appointment allowed (`lanes.{n}` = {ref, ends_at}); a lane frees itself when its
    appointment ends, as a place frees itself when its hold expires. No index: kept small."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    hold = UnicodeAttribute(null=True)
    hold_expires_at = NumberAttribute(null=True)
    lanes = MapAttribute(default=dict)


class EventItem(TimebokModel):
    """A note that is not an appointment change (a waitlist offer, a closure told to a waiting
    person), written in the same transaction as what it tells of. Only its INSERT matters: the
    stream carries it to the relay, and TTL removes it later (nobody deletes it)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # EV#{event_id} (keys.event): no index entry
    sk = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    appointment_id = UnicodeAttribute()  # the waitlist entry's id: the message group
    created_at = UnicodeAttribute()
    payload = MapAttribute(default=dict)
    event = MapAttribute(null=True, attr_name="ev")  # {"k": kind}: what the stream filter looks for
    ttl = NumberAttribute(null=True)


class InboxMessageItem(TimebokModel):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    appointment_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    created_at = UnicodeAttribute()


# ---- waitlist, closures, audit (issue 13) -------------------------------------------------------


class WaitlistEntryItem(TimebokModel):
    """One person waiting for a place in a timebook (domain/waitlist.py has the states)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)  # the timebook's queue, only while live
    gsi2sk = UnicodeAttribute(null=True)
    by_person = _gsi("gsi1")()
    queue = _gsi("gsi2")()
    id = UnicodeAttribute()
    timebook_id = UnicodeAttribute()
    location_id = UnicodeAttribute(null=True)
    window_from = UnicodeAttribute(null=True)  # ISO with offset; slots starting in [from, to)
    window_to = UnicodeAttribute(null=True)
    for_pid = UnicodeAttribute()
    owner = UnicodeAttribute()  # who joined (the token's sub): the offer hold is theirs
    status = UnicodeAttribute()
    version = NumberAttribute(default=0)
    offer = MapAttribute(null=True)  # {hold_id, slot_id, place, start, end, expires_at (epoch)}
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    ttl = NumberAttribute(null=True)  # domain/waitlist.Entry.ttl: gone from then on
    language = UnicodeAttribute(default="nb")  # nb, nn or en; items from before it read as nb


class WaitlistGuardItem(TimebokModel):
    """At most one live waitlist entry per person and timebook: this item names it."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entry_id = UnicodeAttribute()
    live = BooleanAttribute()
    ttl = NumberAttribute(null=True)  # the entry's end: no longer live from then on, whatever `live` says


class WaitlistsItem(TimebokModel):
    """A timebook that has (had) waiting people: the sweep looks at these every minute."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    registry = _gsi("gsi1")()
    timebook_id = UnicodeAttribute()
    # Changes whenever an entry starts (or starts again) to wait: a hold conditioned on the stamp
    # it read cannot pass over someone who joined meanwhile (storage/holds.take_hold).
    stamp = UnicodeAttribute(null=True)


class MarkerItem(TimebokModel):
    """A "done once" mark: a closure told this waitlist entry, a closure's record."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    unfinished = _gsi("gsi2")()
    state = UnicodeAttribute(null=True)
    detail = MapAttribute(null=True)
    ttl = NumberAttribute(null=True)  # SMS marks (storage/sms.py) expire; closure marks keep none
    count = NumberAttribute(null=True)  # a person's SMS of a day (storage/sms.py: take_sms_quota)


class AuditItem(TimebokModel):
    """Who changed what, when: the staff member's id and ids of things, never a citizen's data."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    at = UnicodeAttribute()
    actor = UnicodeAttribute()
    actor_role = UnicodeAttribute(null=True)  # absent on records written before roles were
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    detail = MapAttribute(default=dict)


class QueueItem(TimebokModel):
    """The waiting room's items (keys.py): a person's ticket, a room's state, a shed counter."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_arrival = _gsi("gsi1")()
    arrival = NumberAttribute(null=True)
    count = NumberAttribute(null=True)
    state = MapAttribute(null=True)
    ttl = NumberAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    HealthContactItem,
    HerIdItem,
    TimebookItem,
    SlotItem,
    DaySummaryItem,
    AppointmentItem,
    IdempotencyItem,
    PersonItem,
    EventItem,
    InboxMessageItem,
    WaitlistEntryItem,
    WaitlistGuardItem,
    WaitlistsItem,
    MarkerItem,
    AuditItem,
    QueueItem,
)


def plain(value: object) -> dict:
    """A raw MapAttribute (or dict) as a plain dict."""
    if value is None:
        return {}
    as_dict = getattr(value, "as_dict", None)
    return dict(as_dict()) if as_dict else dict(value)  # type: ignore[call-overload]
