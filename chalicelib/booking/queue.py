"""The waiting room's use cases: join the line, poll one's place, the hold's entry rule, the
admission schedule, and counting shed load (domain/queue.py has the rules).

A poll reads no table: the ticket is verified by its signature, and the room's state is read at
most once per `ROOM_CACHE_SECONDS` per process (the timebook through the timebook cache).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from chalicelib import budget, clock, settings
from chalicelib.booking.common import (
    forget_timebook,
    location_of,
    require_citizen,
    require_staff_of,
    timebook_missing,
)
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain import queue as rules
from chalicelib.domain.identity import birth_date
from chalicelib.domain.model import Timebook
from chalicelib.domain.people import Principal
from chalicelib.domain.queue import RoomState, Standing, Ticket
from chalicelib.errors import Conflict, Forbidden, NotFound, Unavailable
from chalicelib.memo import Memo
from chalicelib.storage import queue as storage
from chalicelib.storage.repository import ConditionFailed
from chalicelib.storage.secrets import read_secret

logger = logging.getLogger("timebok.queue")

ROOM_CACHE_SECONDS = 2.0  # how stale a poll's or a hold's view of the room may be, per process
REFRESH_SECONDS = 1.0  # a refused hold re-reads the room at most this often per process
SHED_FLUSH_SECONDS = 5.0  # this process adds its 429s to the shared count at most this often
TICKET_DAYS = 2  # a ticket's item is removed (TTL) after this

_rooms: Memo[str, RoomState] = Memo(lambda: ROOM_CACHE_SECONDS)
_arrival_lock = threading.Lock()
_last_arrival = -1
_shed_lock = threading.Lock()
_shed_pending = 0
_shed_flushed_at = float("-inf")


@functools.cache
def _process_key() -> bytes:
    import secrets

    return secrets.token_bytes(32)


_stage_key_lock = threading.Lock()
_stage_key: bytes | None = None


def _forget_stage_key() -> None:
    global _stage_key
    _stage_key = None


settings.on_reset(_forget_stage_key)


def _stage_secret(secret_id: str) -> bytes:
    """The stack's generated key, read once per process, the first time a queue call needs it
    (a cold start that never touches the room never reads it). Unreadable: 503, read again next time."""
    global _stage_key
    with _stage_key_lock:  # one read per process, not one per thread of a burst
        if _stage_key is None:
            try:
                value = read_secret(secret_id)
            except Exception:
                logger.exception("waiting room key unreadable")
                raise Unavailable("The waiting room is unavailable, try again shortly.", retry_after=5) from None
            if not value:
                raise Unavailable("The waiting room is not configured.")
            _stage_key = value.encode()
        return _stage_key


def _key() -> bytes:
    """The stage's signer, the same in every process of the stage, so any process accepts a ticket
    another gave: the stack's secret (WAITING_ROOM_KEY_SECRET), else PSEUDONYM_KEY, else the
    token secret (make run, tests). Only the local stage falls back to one key per process (a
    ticket then holds only in the process that gave it); a deployed stage without a key refuses
    queue calls (503) rather than give tickets the next process would refuse."""
    config = settings.get()
    if config.waiting_room_key_secret:
        raw = _stage_secret(config.waiting_room_key_secret)
    elif config.pseudonym_key or config.token_secret:
        raw = (config.pseudonym_key or config.token_secret or "").encode()
    elif config.stage == "local":
        raw = _process_key()
    else:
        logger.error("no waiting room key on stage %s: set WAITING_ROOM_KEY_SECRET", config.stage)
        raise Unavailable("The waiting room is not configured.")
    return hmac.new(raw, b"timebok-waiting-room", hashlib.sha256).digest()


@dataclass(frozen=True)
class Place:
    """A ticket and where it stands."""

    ticket: str
    arrival: int
    standing: Standing
    sold_out: bool = False  # as the room's last step saw it (no table read per poll)


def _room(timebook_id: str, *, fresh_after: float | None = None) -> RoomState:
    """The room as read at most ROOM_CACHE_SECONDS ago (one thread reads it again, the others
    answer from the old state meanwhile); `fresh_after`: at most that ago, waiting for the read."""
    return _rooms.get(timebook_id, lambda: _read_room(timebook_id), max_age=fresh_after)


def _read_room(timebook_id: str) -> RoomState:
    state = storage.get_room(timebook_id)
    if state is None:
        state = RoomState(stepped_at=clock.epoch())
        storage.open_room(timebook_id, state.stepped_at)  # the admission schedule steps it from now on
    return state


def _now() -> float:
    """Epoch seconds with their fraction: admission turns are half a second apart."""
    return clock.now().timestamp()


def _room_setting(tb: Timebook) -> rules.WaitingRoom:
    if tb.waiting_room is None or not tb.waiting_room.enabled:
        raise Conflict("This timebook has no waiting room open.", code="no_waiting_room")
    return tb.waiting_room


def _next_arrival(now_ms: int) -> int:
    global _last_arrival
    with _arrival_lock:
        _last_arrival = rules.new_arrival(now_ms, _last_arrival)
        return _last_arrival


def join(principal: Principal, timebook_id: str, location_id: str | None = None) -> tuple[Place, bool]:
    """POST /timebooks/{id}/queue: a place in line, the same one for the same person (False)."""
    require_citizen(principal)
    tb = get_timebook(timebook_id)
    if location_id is not None:
        location_of(tb, location_id)
    setting = _room_setting(tb)
    key = _key()
    person = rules.person_hash(principal.sub, key)
    now = clock.now()
    ttl = clock.epoch(now + timedelta(days=TICKET_DAYS))
    arrival, created = storage.join_queue(tb.id, person, _next_arrival(int(now.timestamp() * 1000)), ttl)
    ticket = Ticket(tb.id, person, arrival)
    room = _room(tb.id)
    signed = rules.sign_ticket(ticket, key)
    return Place(signed, arrival, room.standing(arrival, setting, _now()), room.looks_sold_out(location_id)), created


def poll(ticket_text: str, location_id: str | None = None) -> Place:
    """GET /queue/{ticket}: from the signature and the cached room state; no table read. With
    `location_id` (a citizen who can go to one location only), `sold_out` is that location's."""
    ticket = rules.read_ticket(ticket_text, _key())
    if ticket is None:
        raise NotFound("No such ticket.", code="ticket_not_found")
    tb = get_timebook(ticket.timebook_id)
    if location_id is not None:
        location_of(tb, location_id)
    setting = tb.waiting_room or rules.WaitingRoom()
    if not setting.enabled:  # the room closed: everyone may go on
        return Place(ticket_text, ticket.arrival, Standing("admitted", 0, 0, rules.MAX_POLL_SECONDS))
    room = _room(tb.id)
    standing = room.standing(ticket.arrival, setting, _now())
    return Place(ticket_text, ticket.arrival, standing, room.looks_sold_out(location_id))


def require_wave_open(tb: Timebook, for_pid: str) -> None:
    """The wave of the person a place is for has opened (403 not_open_yet): before a hold, a
    booking, and a place on the waitlist (an offer is a hold; the waitlist is no way around a wave).
    A timebook with priority lists looks the person up (one Query), until its last wave has opened."""
    if not tb.waves:
        return
    now = clock.now()
    if now >= rules.all_open_at(tb.waves):
        return
    listed: Sequence[str] = ()
    if tb.priority_lists:
        listed = storage.waves_of_person(tb.id, rules.listed_hash(for_pid, _key()), clock.epoch(now))
    rules.require_wave_open(tb.waves, date.fromisoformat(birth_date(for_pid)), now, listed)


def add_wave_people(principal: Principal, timebook_id: str, wave: str, pids: Sequence[str]) -> tuple[int, str, int]:
    """POST /admin/timebooks/{id}/waves/{wave}/people: put people (validated identity numbers) on
    the priority list of the wave `wave` names (its index in `waves`, or its id). Stored as keyed
    hashes, one item each, until the last wave has opened plus the timebook's retention days
    (docs/security.md). The list keys on the wave's id, so it stays with its wave whatever a
    PATCH does to the order; a PATCH meanwhile that changed the waves is read again, and one that
    removed this wave is a 404. (index now, wave id, people added)."""
    from chalicelib.booking import audit  # staff only: a hold's cold start does not load it

    key = _key()
    hashes = [rules.listed_hash(pid, key) for pid in pids]
    for _ in range(3):  # a PATCH between the read and the write: read again
        tb = get_timebook(timebook_id, fresh=True)
        require_staff_of(principal, tb.her_id, timebook_missing())
        index = rules.find_wave(tb.waves, wave)
        if index is None:
            raise NotFound("No such wave in this timebook.", code="wave_not_found")
        wave_id = tb.waves[index].id
        until = rules.list_lifetime(tb.waves, tb.retention_days)
        assert until is not None  # the wave was found
        try:
            added = storage.add_wave_people(tb.id, wave_id, hashes, clock.epoch(until), tb.version)
            break
        except ConditionFailed:
            continue
    else:
        raise Conflict("The timebook is being changed, try again.", code="timebook_changed")
    _stamp_if_changed(tb, [rules.ListEntry(person, wave_id) for person in dict.fromkeys(hashes)])
    forget_timebook(tb.id)  # it has a list now: this process's holds look people up at once
    audit.write(principal, tb.id, "wave_people_added", f"wave {index} ({wave_id})", people=added)
    return index, wave_id, added


def _stamp_if_changed(read: Timebook, entries: Sequence[rules.ListEntry]) -> None:
    """After an upload's write: settings changed since it read them (a PATCH between its mark and
    its write walked the lists before these entries were there, or had nothing to walk), so
    they get the lifetime the waves give now. A later change walks them itself."""
    now = get_timebook(read.id, fresh=True)
    lifetime = rules.list_lifetime(now.waves, now.retention_days)
    if now.version != read.version and lifetime is not None:
        storage.stamp_entries(now.id, entries, clock.epoch(lifetime), now.version)


# A PATCH stamps the lists again for at most this long, then the every-minute schedule goes on.
RESTAMP_BUDGET_SECONDS = 2.0
RESTAMP_PAGE = 200  # entries per page of the walk (one Query, a save of how far it got)


def ask_restamp(timebook_id: str) -> None:
    """Before a settings change that moves the lists' lifetime is written: a change that dies
    after its write still leaves the walk asked for, which the schedule then does."""
    storage.ask_restamp(timebook_id, clock.epoch())


def restamp_lists(timebook_id: str, deadline: float) -> bool:
    """Stamp every entry of the timebook's priority lists with the lifetime its waves give now
    (rules.list_lifetime), page by page, saving how far it got; until done (True), past
    `deadline` (monotonic seconds; after one page at least: every run gets on), or a newer walk
    was asked for (False: the rest is another run's). Each page reads the settings again, so
    no page is stamped from settings older than its own read, and each stamp is conditioned on
    the entry carrying older settings (storage.stamp_entries): idempotent, and the newest waves
    win whatever runs at once."""
    job = storage.get_restamp(timebook_id)
    pages = 0
    while job is not None:
        if pages and clock.monotonic() > deadline:
            return False
        try:
            tb = get_timebook(timebook_id, fresh=True)
        except NotFound:
            return storage.save_restamp(job, done=True)  # no timebook, nothing to keep the lists for
        lifetime = rules.list_lifetime(tb.waves, tb.retention_days)
        entries, after = storage.list_entries(tb.id, job.after, RESTAMP_PAGE)
        if lifetime is not None:
            ttl = clock.epoch(lifetime)
            waves = {w.id for w in tb.waves}
            due = [entry for entry in entries if entry.needs_stamp(ttl, tb.version, job.asked_at, waves)]
            storage.stamp_entries(tb.id, due, ttl, tb.version)
        pages += 1
        job = replace(job, after=after)
        if not storage.save_restamp(job, done=after is None):
            return False
        if after is None:
            return True
    return True


def restamp_unfinished(budget_seconds: float = 20.0) -> int:
    """The schedule's part: go on with the walks a request left (or died in); how many finished."""
    deadline = clock.monotonic() + budget_seconds
    finished = 0
    for timebook_id in budget.within(storage.unfinished_restamps(), deadline):
        try:
            finished += restamp_lists(timebook_id, deadline)
        except Exception as error:  # another timebook's walk still gets its turn; this one's next minute
            logger.warning("lists of %s: stamping failed (%s)", timebook_id, type(error).__name__)
    return finished


@dataclass(frozen=True)
class Listing:
    """A person on a wave's priority list, as GET /me/data shows it."""

    pid: str
    timebook_id: str
    timebook_name: str
    wave: int
    opens_at: datetime


def listings_of(pids: Sequence[str]) -> list[Listing]:
    """The priority lists naming these people (GET /me/data): the timebooks with a list, then one
    Query per person and timebook. Stored as keyed hashes, so they are found only by asking."""
    from chalicelib.storage import repository  # GET /me/data only: a hold never lists timebooks

    found: list[Listing] = []
    books = [tb for hc in repository.list_health_contacts() for tb in repository.list_timebooks(hc.id)]
    key = _key() if any(tb.priority_lists for tb in books) else b""
    for tb in (tb for tb in books if tb.priority_lists and tb.waves):
        for pid in pids:
            listed = set(storage.waves_of_person(tb.id, rules.listed_hash(pid, key), clock.epoch()))
            for n, wave in enumerate(tb.waves):  # a list of a wave no longer there is none
                if wave.id in listed:
                    found.append(Listing(pid, tb.id, tb.name, n, wave.opens_at))
    return found


def require_entry(principal: Principal, timebook_id: str, for_pid: str, ticket_text: str | None) -> None:
    """Before a hold: the wave of the person it is for has opened (403 not_open_yet), and while the
    room is on, the caller brings their own admitted ticket (403 queue_required)."""
    tb = get_timebook(timebook_id)
    require_wave_open(tb, for_pid)
    if tb.waiting_room is None or not tb.waiting_room.enabled:
        return
    key = _key()
    ticket = rules.read_ticket(ticket_text, key)
    person = rules.person_hash(principal.sub, key)
    try:
        rules.require_admitted(ticket, tb.id, person, _room(tb.id), _now())
    except Forbidden:
        if ticket is None or ticket.timebook_id != tb.id or ticket.person != person:
            raise
        # Admitted since this process last looked? Look again, at most once a second.
        rules.require_admitted(ticket, tb.id, person, _room(tb.id, fresh_after=REFRESH_SECONDS), _now())


def admit() -> int:
    """The admission schedule: one step for every room; the number of rooms stepped."""
    stepped = 0
    shed = None
    for timebook_id in storage.rooms():
        tb = get_timebook(timebook_id, fresh=True)
        if tb.waiting_room is None or not tb.waiting_room.enabled:
            continue
        state = storage.get_room(timebook_id, consistent=True) or RoomState()
        shed = storage.shed_total() if shed is None else shed
        waiting = storage.waiting_after(timebook_id, state.admitted_up_to)
        gone = _sold_out(tb)
        new = replace(
            rules.step(state, waiting, tb.waiting_room, _now(), shed),
            sold_out=gone == _ids(tb),
            sold_out_locations=gone,
        )
        try:
            storage.save_room(timebook_id, new)
        except ConditionFailed:
            continue  # another run stepped this room meanwhile
        _rooms.put(timebook_id, new)
        stepped += 1
    return stepped


def room_changed(before: Timebook, after: Timebook) -> None:
    """Staff changed a timebook's settings: this process forgets its view of the room at once
    (other processes within ROOM_CACHE_SECONDS, their timebook within the timebook cache's). A room
    turned on counts its admissions from now: the time it was off lets no crowd in at once."""
    _rooms.forget(after.id)
    was_on = before.waiting_room is not None and before.waiting_room.enabled
    if was_on or after.waiting_room is None or not after.waiting_room.enabled:
        return
    now = clock.epoch()
    state = storage.get_room(after.id, consistent=True)
    if state is None:
        storage.open_room(after.id, now)
        return
    # Turns that came stay admitted; those still ahead are planned again from now, in the same order
    # (a plan kept from before would count the time the room was off as owed).
    restarted = replace(
        state,
        admitted_up_to=state.up_to(now),
        plan=(),
        plan_from=0.0,
        stepped_at=now,
        carry=0.0,
        rate_per_minute=0.0,
        version=state.version + 1,
    )
    with contextlib.suppress(ConditionFailed):  # a step came between: it counted from its own time
        storage.save_room(after.id, restarted)


def _ids(tb: Timebook) -> tuple[str, ...]:
    return tuple(sorted(place.id for place in tb.locations))


def _sold_out(tb: Timebook) -> tuple[str, ...]:
    """Once a step, not once a poll: the timebook's locations where no place looks free (the
    published availability documents, as the public views read them: no table read)."""
    from chalicelib.booking import discovery  # the admission schedule only: no hold loads it here

    free = discovery.locations_looking_free(tb.id, clock.now(), _ids(tb))
    return tuple(place for place in _ids(tb) if place not in free)


def note_shed() -> None:
    """A 429 answered: counted in this process (a refused request writes nothing; flush_shed)."""
    global _shed_pending
    with _shed_lock:
        _shed_pending += 1


def flush_shed() -> None:
    """After an answered request: the 429s counted here go to the shared count, at most every
    few seconds per process (the admission step halves the rate when it grew)."""
    global _shed_pending, _shed_flushed_at
    with _shed_lock:
        if not _shed_pending or clock.monotonic() - _shed_flushed_at < SHED_FLUSH_SECONDS:
            return
        pending, _shed_pending, _shed_flushed_at = _shed_pending, 0, clock.monotonic()
    try:
        storage.add_shed(pending)
    except Exception:  # under load this write may be throttled too: the count is a hint
        logger.warning("load shed not counted")


def _forget_shed() -> None:
    global _shed_pending, _shed_flushed_at
    with _shed_lock:
        _shed_pending, _shed_flushed_at = 0, float("-inf")


settings.on_reset(_forget_shed)
