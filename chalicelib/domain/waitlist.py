"""The waitlist rule: who gets a freed place, and what state an entry is in.

waiting --a place frees in a matching slot--> offered (a hold for them, for waitlist_offer_minutes)
offered --they book it--> booked
offered --the offer lapses--> expired          (the place goes to the next entry)
waiting|offered --they withdraw or decline--> withdrawn (an open offer's place is freed)
(a person with a live hold is passed over while it lives: `blocks_offer`)
waiting --the window has passed (or ENTRY_DAYS since joining, without a window end)--> expired
(KEEP_DAYS after its end an entry is gone: stored with that `ttl`, and left out of every read
before DynamoDB's TTL, which deletes days late, gets to it)

One freed place goes to exactly one entry: the offer is one transaction that takes the place by
the capacity rule and moves the entry from `waiting` to `offered`, both conditioned. Order is
first come, first offered: the queue is read oldest first and an entry is offered only a slot
it matches (timebook, location if given, start in [from, to)).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.domain.holds import HoldRef, is_live

DEFAULT_OFFER_MINUTES = 30


# One live hold-or-offer per person and timebook, and neither ever silently replaces the other:
# - a person filling in a hold (step 5) is passed over for an offer: their entry keeps waiting,
#   first in line as before, and is offered a place after that hold is booked, given back or lapses;
# - a person with an open offer gets no other hold (409 `offer_open`) until they book or decline it.
# An offer of a place that was free anyway (made as the person joins) is no scarcer than a hold:
# it lasts as a hold does, at least MIN_OFFER_MINUTES (time to read the message), never the long
# `waitlist_offer_minutes` meant for a place that freed while people waited.
MIN_OFFER_MINUTES = 5
# An entry without a window end waits at most this long (the horizon an open window looks ahead),
# so no entry waits forever; an ended entry is shown (expired, booked, ...) KEEP_DAYS, then gone.
ENTRY_DAYS = 92
KEEP_DAYS = 7
_DAY = 86_400


def offer_minutes(waitlist_offer_minutes: int | None, hold_minutes: int, place_was_free: bool) -> int:
    long = int(waitlist_offer_minutes or DEFAULT_OFFER_MINUTES)
    return min(long, max(int(hold_minutes), MIN_OFFER_MINUTES)) if place_was_free else long


def blocks_offer(live_hold: HoldRef | None) -> bool:
    """A live hold (an ordinary one, or an offer) means no offer is made to this person now."""
    return live_hold is not None


def blocks_hold(live_hold: HoldRef | None) -> bool:
    """An open offer means no new hold for this person: it would silently take the offer away."""
    return live_hold is not None and live_hold.offer


class EntryStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


LIVE = frozenset({EntryStatus.WAITING, EntryStatus.OFFERED})


@dataclass(frozen=True)
class Window:
    """What a waiting person will take: a location (or any) and start times in [start, end)."""

    location_id: str | None
    start: datetime | None
    end: datetime | None

    def matches(self, location_id: str, slot_start: datetime) -> bool:
        if self.location_id and self.location_id != location_id:
            return False
        if self.start is not None and slot_start < self.start:
            return False
        return self.end is None or slot_start < self.end

    def passed(self, now: datetime) -> bool:
        """Nothing in the window can be booked any more."""
        return self.end is not None and self.end <= now


@dataclass(frozen=True)
class Offer:
    """A waitlist entry's offer: a hold on one place, open until `expires_at`."""

    hold_id: str
    slot_id: str
    place: int
    start: str
    end: str
    expires_at: int  # epoch seconds, as the hold's claim

    def live(self, now_epoch: int) -> bool:
        """An offer is a hold: live by the hold rule."""
        return is_live(self.expires_at, now_epoch)


@dataclass(frozen=True)
class Entry:
    """A waitlist entry as stored (its `status` as last written; `status_at` says what it is now)."""

    id: str
    timebook_id: str
    location_id: str | None
    window_from: str | None  # ISO with offset; slots starting in [from, to)
    window_to: str | None
    for_pid: str
    owner: str  # who joined (the token's sub): the offer hold is theirs
    status: str
    version: int
    offer: Offer | None
    created_at: str  # UTC with milliseconds, as entries sort
    updated_at: str
    language: str = "nb"  # the person's language when they joined (nb, nn, en): their offers' texts

    @property
    def window(self) -> Window:
        start = datetime.fromisoformat(self.window_from) if self.window_from else None
        end = datetime.fromisoformat(self.window_to) if self.window_to else None
        return Window(self.location_id, start, end)

    @property
    def ends_at(self) -> datetime:
        """When the entry stops waiting by itself: its window's end, or ENTRY_DAYS after joining."""
        joined = datetime.fromisoformat(self.created_at) + timedelta(days=ENTRY_DAYS)
        return min(joined, self.window.end) if self.window.end is not None else joined

    @property
    def ends_epoch(self) -> int:
        return int(self.ends_at.timestamp())

    @property
    def ttl(self) -> int:
        """When the entry is gone (DynamoDB's TTL attribute; reads leave it out from then on)."""
        return self.ends_epoch + KEEP_DAYS * _DAY

    def gone(self, now_epoch: int) -> bool:
        return self.ttl <= now_epoch

    def status_at(self, now: datetime) -> EntryStatus:
        status = effective_status(self.status, self.offer, self.window, now, int(now.timestamp()))
        if status == EntryStatus.WAITING and self.ends_at <= now:
            return EntryStatus.EXPIRED
        return status


@dataclass(frozen=True)
class Guard:
    """The one entry a person has in a timebook's waitlist, and whether it is still live."""

    entry_id: str
    live: bool


def effective_status(status: str, offer: Offer | None, window: Window, now: datetime, now_epoch: int) -> EntryStatus:
    """What an entry is now, before any sweep has written it: a lapsed offer or a passed window
    is expired at once (an expired hold never blocks anyone, decision 2)."""
    current = EntryStatus(status)
    if current == EntryStatus.OFFERED and (offer is None or not offer.live(now_epoch)):
        return EntryStatus.EXPIRED
    if current == EntryStatus.WAITING and window.passed(now):
        return EntryStatus.EXPIRED
    return current
