"""The waitlist (API.md `/waitlist`): join, see, withdraw; and offering freed places in turn.

A freed place (a cancel, a reject, a released or lapsed hold, a raised capacity, a reopened slot)
is offered to the first waiting entry whose window matches: a hold for that person lasting the
timebook's `waitlist_offer_minutes`, an inbox message (kind `offer`), and the offer in
GET /waitlist. They book it with POST /appointments {hold_id} as usual. Offering is one
transaction per offer (storage/waitlist.py), so one place goes to one entry.

Offers are made right after a request frees a place (best effort: a failure never fails that
request) and by the every-minute sweep (`sweep`), which also notices holds that lapsed and
offers that ran out, since an expired hold frees its place without any write.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import clock
from chalicelib.booking import closed_ranges, queue
from chalicelib.booking.common import iso, location_of, new_id, require_bookable, require_citizen
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.slots import limit_of
from chalicelib.domain.capacity import Claim
from chalicelib.domain.holds import HoldRef, hold_expires_at, new_hold_id
from chalicelib.domain.model import Event, Person, Slot, Timebook, WaitlistEntry
from chalicelib.domain.paging import PageRequest, Position, continue_after, sort_key_after
from chalicelib.domain.people import Principal, whom_for
from chalicelib.domain.slots import parse_slot_id
from chalicelib.domain.waitlist import (
    LIVE,
    Entry,
    EntryStatus,
    Offer,
    Window,
    blocks_offer,
    offer_minutes,
)
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.storage import mapping, repository
from chalicelib.storage import waitlist as storage

if TYPE_CHECKING:
    from chalicelib.booking.commands import JoinWaitlist

logger = logging.getLogger("timebok.waitlist")

QUEUE_READ = 100  # entries read per page, oldest first (every page is read, see `advance`)
ADVANCE_SECONDS = 4.0  # one run reads pages of the queue for at most this long
HORIZON_DAYS = 92  # how far ahead an open-ended window looks for places
ATTEMPTS = 3
EVENT_DAYS = 2  # an event item outlives the stream's 24 h (all the relay can still read)
# GET /waitlist counts at most this many entries ahead of each live entry (a COUNT query reads
# what it counts: about 50 read units); further back, the entry has no `position`.
POSITION_COUNTED = 1000


def _window(entry: Entry) -> Window:
    return entry.window


def offer_of(entry: Entry) -> Offer | None:
    return entry.offer


def status_of(entry: Entry, now: datetime | None = None) -> EntryStatus:
    return entry.status_at(now or clock.now())


def entry_of(entry: Entry, with_position: bool = False) -> WaitlistEntry:
    """The entry as the use cases hand it out: as it is now (a lapsed offer shows `expired`), and
    if asked and live, with its place in line (one COUNT query)."""
    status = status_of(entry)
    position = storage.position_in_queue(entry, POSITION_COUNTED) if with_position and status in LIVE else None
    return mapping.waitlist_entry(entry, status, position)


def _stamp(now: datetime) -> str:
    """UTC with milliseconds: entries sort by it, first come first (also across DST changes)."""
    return now.astimezone(UTC).isoformat(timespec="milliseconds")


# ---- the citizen's calls -------------------------------------------------------------------------


def already_waiting() -> Conflict:
    return Conflict("This person is already on the waitlist of this timebook.", code="already_waiting")


def join(principal: Principal, body: JoinWaitlist, language: str = "nb") -> WaitlistEntry:
    """POST /waitlist: one live entry per person and timebook; offered at once if a place is free
    (for as long as a hold lasts, domain/waitlist.offer_minutes); its messages in `language`.
    A failure answers before anything is written, never after (the offer step is best effort)."""
    require_citizen(principal)
    tb = get_timebook(body.timebook_id)
    require_bookable(tb)  # a timebook that takes no bookings takes no waiting either
    for_pid = whom_for(principal, body.for_pid)
    queue.require_wave_open(tb, for_pid)
    if body.location_id:
        location_of(tb, body.location_id)
    now = clock.now()
    if body.window_to is not None and body.window_to <= now:
        raise InvalidInput("The time window has passed.", fields=[("to", "must be in the future")])
    entry = Entry(
        id=new_id("wl"),
        timebook_id=tb.id,
        location_id=body.location_id,
        window_from=iso(body.window_from) if body.window_from else None,
        window_to=iso(body.window_to) if body.window_to else None,
        for_pid=for_pid,
        owner=principal.sub,
        status=EntryStatus.WAITING.value,
        version=0,
        offer=None,
        created_at=_stamp(now),
        updated_at=_stamp(now),
        language=language,
    )
    for attempt in range(2):
        try:
            storage.join(entry)
            break
        except repository.ConditionFailed as lost:
            if "guard" not in lost.failed or attempt or not _end_lapsed_entry_of(tb.id, for_pid):
                raise already_waiting() from lost
    # The entry is written: nothing after this may fail the request (a 429 now would make the
    # retry answer `already_waiting`). Offering it a place at once is best effort; the sweep
    # offers within a minute.
    try:
        advance(tb.id, newcomer=entry.id)
        return entry_of(storage.get_entry(entry.id, consistent=True) or entry)
    except Exception as error:
        logger.warning(
            "waitlist: offering the new entry %s failed (%s); the sweep will", entry.id, type(error).__name__
        )
        return entry_of(entry)


def _end_lapsed_entry_of(timebook_id: str, pid: str) -> bool:
    """The person's live entry has lapsed (an offer ran out, the window passed) but no sweep has
    written that yet: write it now, so they may join again. True if it was ended."""
    guard = storage.get_guard(timebook_id, pid)
    entry = storage.get_entry(guard.entry_id, consistent=True) if guard and guard.live else None
    if entry is None or status_of(entry) in LIVE:
        return False
    _lapse(entry)
    return True


def _mine(principal: Principal, entry_id: str) -> Entry:
    require_citizen(principal)
    entry = storage.get_entry(entry_id, consistent=True)
    if entry is None or entry.gone(clock.epoch()) or entry.for_pid not in principal.people():
        raise NotFound("No such waitlist entry.", code="waitlist_entry_not_found")
    return entry


def mine(principal: Principal, page: PageRequest) -> tuple[list[WaitlistEntry], Position | None]:
    """GET /waitlist: the caller's entries and those of the people they represent, newest first;
    an entry past its `ttl` is gone (DynamoDB deletes it days late); the live ones with their place
    in line."""
    require_citizen(principal)
    found, last = storage.entries_of_people(principal.people(), page.limit, sort_key_after(page))
    now_epoch = clock.epoch()
    return [entry_of(e, with_position=True) for e in found if not e.gone(now_epoch)], continue_after(last)


def withdraw(principal: Principal, entry_id: str) -> None:
    """DELETE /waitlist/{id}: leave the list, or decline an offer; its place goes to the next entry."""
    for _ in range(ATTEMPTS):
        entry = _mine(principal, entry_id)
        if EntryStatus(entry.status) not in LIVE:
            if entry.status == EntryStatus.WITHDRAWN:
                return
            raise Conflict(f"The waitlist entry is {entry.status}.", code="wrong_state")
        offer = offer_of(entry)
        now_epoch = clock.epoch()
        release = None
        if entry.status == EntryStatus.OFFERED and offer is not None and offer.live(now_epoch):
            ref = parse_slot_id(offer.slot_id)
            release = (ref, offer.place, offer.hold_id) if ref else None
        try:
            storage.end(entry, EntryStatus.WITHDRAWN.value, [entry.status], _stamp(clock.now()), release)
        except repository.ConditionFailed:
            continue  # booked or offered meanwhile, or the offer was used: look again
        if release is not None:
            repository.forget_hold(entry.timebook_id, entry.for_pid, release[2])  # the person's pointer too
            if offer is not None:
                places_freed(offer.slot_id)  # what events.after_commit does, without an import circle
        return
    raise Conflict("The waitlist entry changed meanwhile; please try again.", code="conflict")


# ---- offering freed places -------------------------------------------------------------------------


def places_freed(slot_id: str) -> int:
    """A request just freed a place in this slot: offer it to the waitlist. Best effort, so a
    failure here never fails the request that freed it; the sweep catches up within a minute."""
    ref = parse_slot_id(slot_id)
    if ref is None:
        return 0
    try:
        return advance(ref.timebook_id, only_slot=slot_id)
    except Exception as error:
        logger.warning("waitlist: offering slot %s failed (%s); the sweep will", slot_id, type(error).__name__)
        return 0


def places_freed_in(timebook_id: str) -> int:
    """As `places_freed`, for anywhere in the timebook (after a closure took offers back)."""
    try:
        return advance(timebook_id)
    except Exception as error:
        logger.warning("waitlist: offering in %s failed (%s); the sweep will", timebook_id, type(error).__name__)
        return 0


def after_booking(hold: HoldRef, timebook_id: str, for_pid: str) -> None:
    """A hold was booked: if it was a waitlist offer, that entry is `booked`. Best effort; a missed
    one is found when the offer would lapse (`_lapse` looks at the place). Only offers (their hold
    ids say so) cost these reads: an ordinary booking reads nothing here."""
    if not hold.offer:
        return
    try:
        guard = storage.get_guard(timebook_id, for_pid)
        entry = storage.get_entry(guard.entry_id, consistent=True) if guard is not None else None
        offer = offer_of(entry) if entry is not None else None
        if entry is not None and entry.status == EntryStatus.OFFERED and offer and offer.hold_id == hold.hold_id:
            storage.end(entry, EntryStatus.BOOKED.value, [EntryStatus.OFFERED.value], _stamp(clock.now()))
    except Exception as error:
        logger.warning("waitlist: marking the offer %s booked failed (%s)", hold.hold_id, type(error).__name__)


def offer_owner(principal: Principal, timebook_id: str, for_pid: str, hold_id: str) -> str | None:
    """The offer belongs to the person it is for: the represented person, or any current
    representative, may book it, whoever joined. Returns who joined (the offer hold's owner) if
    `hold_id` is the open offer made for `for_pid` and the caller acts for them; else None."""
    if for_pid not in principal.people():
        return None
    guard = storage.get_guard(timebook_id, for_pid)
    entry = storage.get_entry(guard.entry_id, consistent=True) if guard is not None and guard.live else None
    offer = offer_of(entry) if entry is not None else None
    if entry is None or offer is None or offer.hold_id != hold_id:
        return None
    return entry.owner


# How many waiting people's items a hold reads before it lets the waitlist go first anyway: each
# matching entry costs one read of its person (are they free to take an offer?). Past this many,
# the place is left to `advance` (which reads the whole queue) rather than to the poller.
GATE_PEOPLE_READ = 20


def comes_first(tb: Timebook, slot: Slot, now: datetime) -> bool:
    """A free place in this slot belongs to the waitlist, not to a new hold: someone waits whose
    window matches the slot and who could take an offer now (no live hold, a lane free; as
    `_make_offer` decides). The hold path asks this before it writes, conditioned on the
    waitlist registry's stamp it read (storage/holds.take_hold), so nobody who started waiting
    after this read is passed over either. True also when more than GATE_PEOPLE_READ matching
    entries had to be looked at: then `advance` decides, whoever polls."""
    people_read = 0
    for page in storage.queue_pages(tb.id, QUEUE_READ):
        for entry in page:
            if status_of(entry, now) != EntryStatus.WAITING or not _window(entry).matches(
                slot.location_id, slot.starts_at
            ):
                continue
            if people_read >= GATE_PEOPLE_READ:
                return True
            people_read += 1
            if _can_take_offer(tb, repository.get_person(tb.id, entry.for_pid), now):
                return True
    return False


def _can_take_offer(tb: Timebook, person: Person, now: datetime) -> bool:
    """An offer is made only to a person with no live hold and a free lane (`_make_offer`)."""
    if blocks_offer(person.live_hold(now)):
        return False
    try:
        person.require_lane(limit_of(tb), now)
    except Conflict:
        return False
    return True


def take_back_offers(slot: Slot) -> int:
    """Staff closed this slot: its open offers are taken back and their entries wait again, first
    in line as before (the closure then offers them a place elsewhere, if there is one)."""
    ref = parse_slot_id(slot.slot_id)
    taken_back = 0
    for place, claim in slot.claims.items():
        entry = storage.get_entry(claim.waitlist, consistent=True) if claim.waitlist else None
        offer = offer_of(entry) if entry else None
        if entry is None or ref is None or offer is None or offer.hold_id != claim.ref:
            continue
        if status_of(entry) != EntryStatus.OFFERED:
            continue
        with contextlib.suppress(repository.ConditionFailed):  # booked or withdrawn meanwhile
            storage.take_back_offer(entry, ref, int(place), offer.hold_id, _stamp(clock.now()))
            repository.forget_hold(entry.timebook_id, entry.for_pid, offer.hold_id)  # no stale pointer
            taken_back += 1
    return taken_back


def _lapse(entry: Entry) -> None:
    """End an entry whose offer ran out (or window passed): `booked` if its offer's place now holds
    the owner's appointment (the booking's own marking was lost), else `expired`."""
    status = EntryStatus.EXPIRED
    offer = offer_of(entry)
    ref = parse_slot_id(offer.slot_id) if offer else None
    slot = repository.get_slot(ref, consistent=True) if ref else None
    if offer is not None and slot is not None:
        claim = slot.claims.get(offer.place)
        if claim is not None and claim.kind == "appointment" and claim.owner == entry.owner:
            status = EntryStatus.BOOKED
    with contextlib.suppress(repository.ConditionFailed):  # someone else ended or changed it first
        storage.end(entry, status.value, [entry.status], _stamp(clock.now()))


@dataclass
class _Candidate:
    slot: Slot
    start: datetime
    free: list[int]


def advance(
    timebook_id: str, only_slot: str | None = None, newcomer: str | None = None, budget_seconds: float = ADVANCE_SECONDS
) -> int:
    """Offer free places to waiting entries, first come first; returns how many offers were made.

    The whole queue is read, a page at a time, until no free place is left for anyone or the
    queue ends: an entry that cannot be offered now (its person is at their limit, its window
    matches nothing free) is skipped, never blocking those behind it, however many they are.
    With `only_slot`, looks at that slot only (a request just freed a place there). With
    `newcomer` (an entry just made), looks only if nobody waits before it: in a sold-out surge
    a crowd joining does not each read the whole window; the sweep looks within a minute.
    Stops after `budget_seconds` (the next sweep starts again from the head)."""
    deadline = clock.monotonic() + budget_seconds
    now = clock.now()
    tb: Timebook | None = None
    offers = 0
    seen: set[tuple[str, int]] = set()  # places tried this run (offered, or lost to someone)
    single: list[_Candidate] | None = None
    for number, page in enumerate(storage.queue_pages(timebook_id, QUEUE_READ)):
        if number and clock.monotonic() > deadline:
            logger.info("waitlist: %s read up to page %d this run; the sweep goes on", timebook_id, number)
            break
        waiting = []
        for entry in page:
            status = status_of(entry, now)
            if status == EntryStatus.WAITING:
                waiting.append(entry)
            elif status not in LIVE:
                _lapse(entry)
        if number == 0 and newcomer is not None and (not waiting or waiting[0].id != newcomer):
            return 0
        if not waiting:
            continue
        tb = tb or get_timebook(timebook_id)
        if only_slot is not None:
            single = _candidates(tb, waiting, now, only_slot) if single is None else single
            candidates = single
        else:
            candidates = _candidates(tb, waiting, now, None)
            for candidate in candidates:
                candidate.free = [p for p in candidate.free if (candidate.slot.slot_id, p) not in seen]
        for entry in waiting:
            offers += _offer_first_match(tb, entry, candidates, now, seen, was_free=entry.id == newcomer)
        if only_slot is not None and not any(c.free for c in candidates):
            break  # the freed place is taken: nobody further back can have it
        if only_slot is None and _read_everything(waiting, now) and not any(c.free for c in candidates):
            break  # nothing is free anywhere in the horizon
    return offers


def _read_everything(waiting: list[Entry], now: datetime) -> bool:
    """Whether the page's windows made `_candidates` read every location from today to the horizon."""
    first, last = _days_to_read(waiting, now)
    today = clock.local(now).date()
    locations = {e.location_id for e in waiting}
    every_location = len(locations) > 1 or locations == {None}
    return every_location and first == today and last == today + timedelta(days=HORIZON_DAYS)


def _candidates(tb: Timebook, waiting: list[Entry], now: datetime, only_slot: str | None) -> list[_Candidate]:
    if only_slot is not None:
        ref = parse_slot_id(only_slot)
        slot = repository.get_slot(ref, consistent=True) if ref else None
        slots: Iterable[Slot] = [slot] if slot is not None else []
    else:
        first, last = _days_to_read(waiting, now)
        locations = {e.location_id for e in waiting}
        location = next(iter(locations)) if len(locations) == 1 else None
        slots = repository.slots_between(tb.id, first, last, location)
    found = []
    for slot in slots:
        if slot.begun(now) or closed_ranges.closed(slot.timebook_id, slot.location_id, slot.starts_at):
            continue  # begun, or in a running closure's range (not offered, then taken back)
        free = slot.free_places(now)
        if free:
            found.append(_Candidate(slot, slot.starts_at, free))
    return sorted(found, key=lambda c: (c.start, c.slot.location_id))


def _days_to_read(waiting: list[Entry], now: datetime) -> tuple[date, date]:
    """The local dates the waiting entries' windows cover, from today to at most HORIZON_DAYS on."""
    today = clock.local(now).date()
    horizon = today + timedelta(days=HORIZON_DAYS)
    windows = [_window(e) for e in waiting]
    starts = [clock.local(w.start).date() if w.start else today for w in windows]
    ends = [clock.local(w.end).date() if w.end else horizon for w in windows]
    return max(today, min(starts)), min(horizon, max(ends))


def _offer_first_match(
    tb: Timebook,
    entry: Entry,
    candidates: list[_Candidate],
    now: datetime,
    seen: set[tuple[str, int]],
    was_free: bool = False,
) -> int:
    window = _window(entry)
    tries = 0
    for candidate in candidates:
        if not candidate.free or not window.matches(candidate.slot.location_id, candidate.start):
            continue
        while candidate.free and tries < ATTEMPTS:
            place = candidate.free.pop(0)
            tries += 1
            seen.add((candidate.slot.slot_id, place))
            try:
                _make_offer(tb, entry, candidate.slot, place, now, was_free)
                return 1
            except repository.ConditionFailed as lost:
                if "entry" in lost.failed or "person" in lost.failed or "old" in lost.failed:
                    # the entry changed, or its person cannot take a hold now: the place is still free
                    candidate.free.insert(0, place)
                    seen.discard((candidate.slot.slot_id, place))
                    return 0
                # "place": taken meanwhile (a hold, a booking, another offer): try the next one
        if tries >= ATTEMPTS:
            return 0
    return 0


def _make_offer(tb: Timebook, entry: Entry, slot: Slot, place: int, now: datetime, was_free: bool = False) -> None:
    """The offer is the person's one hold in this timebook and takes a free lane of theirs, like any
    hold; a person at their limit, or with a live hold, is not offered now ("person" fails; the
    write's condition on their hold as read catches a hold taken meanwhile)."""
    now_epoch = clock.epoch(now)
    person = repository.get_person(tb.id, entry.for_pid)
    if blocks_offer(person.live_hold(now)):  # never swap away the hold they are filling in
        raise repository.ConditionFailed(["person"])
    try:
        lane = person.require_lane(limit_of(tb), now)
    except Conflict:
        raise repository.ConditionFailed(["person"]) from None
    expires = hold_expires_at(now, offer_minutes(tb.waitlist_offer_minutes, int(tb.hold_minutes), was_free))
    hold_id = new_hold_id(
        slot.slot_id,
        place,
        lane=lane,
        minutes=slot.minutes,
        for_pid=entry.for_pid,
        offer=True,
    )
    claim = Claim("hold", hold_id, entry.owner, clock.epoch(expires), waitlist=entry.id)
    offer = Offer(hold_id, slot.slot_id, place, slot.start, slot.end, clock.epoch(expires))
    ref = parse_slot_id(slot.slot_id)
    assert ref is not None  # made by us
    event = _offer_event(tb, entry, slot, expires)
    storage.offer(
        storage.NewOffer(
            entry,
            ref,
            place,
            claim,
            offer,
            event,
            _stamp(now),
            person=person,
            lane=lane,
        ),
        now_epoch,
    )


def _offer_event(tb: Timebook, entry: Entry, slot: Slot, expires: datetime) -> Event:
    location = location_of(tb, slot.location_id)
    return waitlist_event(
        tb,
        entry,
        "offer",
        start=slot.start,
        location_name=location.name,
        location_address=location.address,
        expires_at=iso(expires),
    )


def waitlist_event(tb: Timebook, entry: Entry, kind: str, **extra: str) -> Event:
    """An inbox event about a waitlist entry (its id stands where an appointment's would); the
    stream takes it to the relay, and TTL removes the item after EVENT_DAYS."""
    return Event(
        event_id=new_id("ev"),
        kind=kind,
        appointment_id=entry.id,
        created_at=clock.local(clock.now()).isoformat(timespec="milliseconds"),
        payload={
            "for_pid": entry.for_pid,
            "timebook_name": tb.name,
            "health_contact_name": tb.health_contact.name,
            "waitlist": "yes",
            "language": entry.language,  # the texts' language (messaging/texts.py)
            **extra,
        },
        ttl=clock.epoch(clock.now() + timedelta(days=EVENT_DAYS)),
    )


# ---- the every-minute sweep ------------------------------------------------------------------------


def sweep() -> int:
    """Offer the places that freed without a request (lapsed holds and offers) within a minute,
    and end the entries whose offer ran out. Returns how many offers were made."""
    offers = 0
    for timebook_id in storage.timebooks_with_waitlists():
        try:
            offers += advance(timebook_id)
        except Exception as error:
            logger.warning("waitlist sweep: timebook %s failed (%s)", timebook_id, type(error).__name__)
    return offers
