"""Holds (step 4): a short claim on one place while the citizen fills in step 5.

Fair under a crowd: a person has at most one live hold per timebook (a new one replaces the old
one and frees its place in the same transaction; an open waitlist offer is never replaced: 409
`offer_open`, domain/waitlist.py), and a person who may not book more in the
timebook (domain/limits.py) gets no hold. Both are conditions of the one hold transaction
(storage.repository.take_hold), not checks before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from chalicelib import clock
from chalicelib.booking import closed_ranges, idempotency
from chalicelib.booking.common import (
    people_for_tag,
    require_bookable,
    require_citizen,
)
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.events import after_commit
from chalicelib.booking.idempotency import Key
from chalicelib.booking.slots import bookable_slot, jitter, limit_of, parse_slot, slot_unavailable
from chalicelib.domain.capacity import Candidate, Claim, spread_choice
from chalicelib.domain.holds import Refusal, hold_expires_at, new_hold_id, parse_hold_id, refusal
from chalicelib.domain.model import Hold, Person, Slot, Timebook
from chalicelib.domain.people import Principal, whom_for
from chalicelib.domain.slots import SlotRef, parse_slot_id
from chalicelib.domain.waitlist import blocks_hold
from chalicelib.errors import Conflict, HoldExpired, NotFound
from chalicelib.memo import Memo
from chalicelib.storage import repository

if TYPE_CHECKING:
    from chalicelib.booking.commands import TakeHold

# How many of the earliest free places a "first available" request chooses among at random.
FIRST_AVAILABLE_WINDOW = 24
ATTEMPTS = 6
SCOPE = "holds"
# In a surge most "first available" requests come after the last place is gone, and each would
# read months of full slots to say so. A sold-out answer is remembered briefly in this process;
# a place freed meanwhile is found by the next request after the memo lapses.
SOLD_OUT_MEMO_SECONDS = 2.0
_sold_out: Memo[tuple[str, str | None, date], bool] = Memo(lambda: SOLD_OUT_MEMO_SECONDS)


def _hold(hold_id: str, slot: Slot, expires_at: datetime, principal: Principal, for_pid: str) -> Hold:
    name = principal.name_of(for_pid)
    return Hold(hold_id, slot.slot_id, slot.location_id, slot.start, slot.end, expires_at, for_pid, name)


@dataclass(eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class _Attempt:
    """One try at a hold: the place chosen, and what was read of the person."""

    ref: SlotRef
    slot: Slot
    place: int
    person: Person
    skip_old: bool = False  # the previous hold was found gone: do not try to free it again
    gate: str | None = None  # the timebook's waitlist registry stamp as read (None: no waitlist)


def _write(principal: Principal, tb: Timebook, for_pid: str, attempt: _Attempt, key: Key | None) -> Hold:
    """The hold transaction for one attempt; raises ConditionFailed naming what lost."""
    now = clock.now()
    now_epoch = clock.epoch(now)
    lane = attempt.person.require_lane(limit_of(tb), now)
    again = _own_place(attempt.person, attempt.slot, now) == attempt.place  # their own place: nothing frees
    if attempt.gate is not None and not again and _waitlist_first(tb, attempt.slot, now):
        raise repository.ConditionFailed(["waitlist_first"])
    hold_id = new_hold_id(attempt.ref.slot_id, attempt.place, lane=lane, minutes=attempt.slot.minutes, for_pid=for_pid)
    expires = _not_renewed(attempt, hold_expires_at(now, int(tb.hold_minutes)), now)
    repository.take_hold(
        repository.HoldWrite(
            slot=attempt.ref,
            place=attempt.place,
            claim=Claim("hold", hold_id, principal.sub, clock.epoch(expires)),
            person=attempt.person,
            free_old=None if attempt.skip_old else _old_hold(attempt.person, now),
            lane=lane,
            idempotency=idempotency.record(principal, key, hold_id, now_epoch),
            waitlist_gate=attempt.gate,
        ),
        now_epoch,
    )
    return _hold(hold_id, attempt.slot, expires, principal, for_pid)


def _waitlist_first(tb: Timebook, slot: Slot, now: datetime) -> bool:
    """A polling script never beats the waitlist: a free place someone waiting could take is
    offered to them now, and this hold is refused (booking/waitlist.comes_first). Loaded only
    for a timebook that has a waitlist."""
    from chalicelib.booking import waitlist

    if not waitlist.comes_first(tb, slot, now):
        return False
    waitlist.places_freed(slot.slot_id)
    return True


def _not_renewed(attempt: _Attempt, expires: datetime, now: datetime) -> datetime:
    """Holding the same place again (the back button) keeps the old hold's end: re-posting a hold
    never renews it forever."""
    old = attempt.person.live_hold(now)
    if old is None or old.slot_id != attempt.ref.slot_id or old.place != attempt.place:
        return expires
    return min(expires, datetime.fromtimestamp(int(attempt.person.hold_expires_at or 0), UTC))


def _old_hold(person: Person, now: datetime) -> tuple[SlotRef, int, str] | None:
    """The person's previous hold, if it is still live: its place is freed by the new hold."""
    old = person.live_hold(now)
    old_slot = parse_slot_id(old.slot_id) if old else None
    if old is None or old_slot is None:
        return None
    return old_slot, old.place, old.hold_id


def _refuse_over_offer(person: Person, now: datetime) -> None:
    """An open waitlist offer is never silently replaced by another hold (domain/waitlist.py)."""
    if blocks_hold(person.live_hold(now)):
        raise Conflict(
            "You have an open waitlist offer: book it or decline it before choosing another time.",
            code="offer_open",
        )


def _own_place(person: Person, slot: Slot, now: datetime) -> int | None:
    """The place of the person's live hold in this very slot: holding the slot again reuses it."""
    old = _old_hold(person, now)
    return old[1] if old and old[0].slot_id == slot.slot_id else None


def _replay(principal: Principal, key: Key) -> Hold | None:
    """The hold a key made, if it is still live; a key whose hold is gone says so (never answers a
    dead hold as if it were live)."""
    hold_id = idempotency.first_result(principal, key)
    if hold_id is None:
        return None
    ref = parse_hold_id(hold_id)
    slot_ref = parse_slot_id(ref.slot_id) if ref else None
    slot = repository.get_slot(slot_ref, consistent=True) if slot_ref else None
    claim = slot.claims.get(ref.place) if slot and ref else None
    why = refusal(claim, hold_id, principal.sub, clock.epoch())
    if why is Refusal.EXPIRED:
        raise HoldExpired("The hold made with this Idempotency-Key has expired.", code="hold_expired")
    if why is not None or claim is None:
        raise Conflict("The hold made with this Idempotency-Key is gone.", code="hold_gone")
    for_pid = next(iter(people_for_tag(principal, ref.tag)), "") if ref else ""  # "": no longer theirs to name
    return _hold(hold_id, slot, datetime.fromtimestamp(claim.expires_at, UTC), principal, for_pid)  # type: ignore[arg-type]


def hold(
    principal: Principal, body: TakeHold, idempotency_key: str | None = None, queue_ticket: str | None = None
) -> tuple[Hold, bool]:
    """POST /holds: by slot, or the first available time; a repeated key answers the same hold."""
    require_citizen(principal)
    for_pid = whom_for(principal, body.for_pid)
    timebook_id = parse_slot(body.slot_id).timebook_id if body.slot_id else body.timebook_id or ""
    if get_timebook(timebook_id).gated:  # waves, the waiting room: a timebook without never loads their rules
        from chalicelib.booking import queue

        queue.require_entry(principal, timebook_id, for_pid, queue_ticket)
    key = Key.of(SCOPE, idempotency_key, body)
    if key and (replayed := _replay(principal, key)):
        return replayed, False
    if body.slot_id:
        return hold_slot(principal, body.slot_id, key, for_pid=for_pid)
    return hold_first_available(principal, body.timebook_id or "", body.location_id, body.date, key, for_pid=for_pid)


def _lost(principal: Principal, key: Key | None, lost: repository.ConditionFailed, attempt: _Attempt) -> Hold | None:
    """After a lost hold transaction: a concurrent retry with the same key may have won (answer
    its hold); a previous hold found gone is not freed again; a conflict waits a little."""
    if key is not None and "idempotency" in lost.failed and (again := _replay(principal, key)):
        return again
    if lost.failed == ["old"]:
        attempt.skip_old = True
    if "conflict" in lost.failed:
        jitter()
    return None


def hold_slot(
    principal: Principal, slot_id: str, key: Key | None = None, *, for_pid: str | None = None
) -> tuple[Hold, bool]:
    """Hold a place in one chosen slot (one BatchGetItem, one transaction); a lost race tries again."""
    require_citizen(principal)
    for_pid = for_pid or principal.sub
    ref = parse_slot(slot_id)
    tb = get_timebook(ref.timebook_id)
    require_bookable(tb)
    skip_old = False
    gate: str | None = None
    failed: list[str] = []
    for _ in range(ATTEMPTS):
        if _read_gate_again(gate, failed):
            slot, person, gate = repository.read_hold_state(ref, for_pid)
        else:  # a lost race: the slot and the person again; the write stays conditioned on the stamp
            slot, person = repository.read_slot_and_person(ref, for_pid)
        found = bookable_slot(slot)
        person.require_lane(limit_of(tb), found.now)  # nobody gets a hold they could not use
        _refuse_over_offer(person, found.now)
        own = _own_place(person, found.slot, found.now)
        place = own if own is not None else found.random_free_place()
        attempt = _Attempt(ref, found.slot, place, person, skip_old, gate)
        try:
            return _write(principal, tb, for_pid, attempt, key), True
        except repository.ConditionFailed as lost:
            if "waitlist_first" in lost.failed:
                raise slot_unavailable() from None
            if (again := _lost(principal, key, lost, attempt)) is not None:
                return again, False
            skip_old = attempt.skip_old
            failed = lost.failed
    raise slot_unavailable()


def _read_gate_again(gate: str | None, failed: list[str]) -> bool:
    """Before an attempt: read the waitlist registry again? Not after a race lost on something else
    while the write is conditioned on a stamp (a join since fails that condition, "waitlist");
    always while it is not (None: no registry was found, so nothing guards against a first join)."""
    return gate is None or "waitlist" in failed


def hold_first_available(
    principal: Principal,
    timebook_id: str,
    location_id: str | None,
    from_day: date | None,
    key: Key | None = None,
    *,
    for_pid: str | None = None,
) -> tuple[Hold, bool]:
    """Hold the first available time, spreading a crowd over the earliest free places."""
    require_citizen(principal)
    for_pid = for_pid or principal.sub
    tb = get_timebook(timebook_id)
    require_bookable(tb)
    today = clock.local(clock.now()).date()
    start_day = max(from_day or today, today)
    sold_out_key = (tb.id, location_id, start_day)
    looking = _look_again(sold_out_key)
    try:
        first_day = _published_first_day(tb.id, location_id, start_day)
        if first_day is None:
            raise _SoldOut()
        return _hold_first(
            principal, tb, for_pid, location_id, first_day, key, months=_months_left(start_day, first_day)
        )
    except _SoldOut:
        _sold_out.put(sold_out_key, True)
        looking = False
        raise _no_free_time() from None
    finally:
        if looking:  # found a time (or failed otherwise): the others look again too
            _sold_out.forget(sold_out_key)


def _published_first_day(timebook_id: str, location_id: str | None, start_day: date) -> date | None:
    """Where "first available" starts looking, from the published availability documents (the
    public views' and the feed's staleness, no table read): the first day that looks to have a
    place, so the summaries of the days sold out before it are not read; None, and the crowd after
    the last place is answered "no free time" without a table read (issue 20: most of a surge's
    requests come then). A place freed on an earlier day is found once the stream has published
    it. With staleness 0 (tests) a document is published per read, so the table decides there,
    from the day asked, as before."""
    from chalicelib.booking import availability_docs, discovery

    if availability_docs.staleness_seconds() <= 0:
        return start_day
    return discovery.first_day_looking_free(timebook_id, clock.now(), location_id=location_id, from_day=start_day)


def _months_left(start_day: date, first_day: date, months: int = 3) -> int:
    """The months first-available looks at from the day asked, counted from the first day found."""
    return months - ((first_day.year - start_day.year) * 12 + first_day.month - start_day.month)


class _SoldOut(Exception):
    """No free time from the day on (remembered briefly: SOLD_OUT_MEMO_SECONDS)."""


def _look_again(sold_out_key: tuple[str, str | None, date]) -> bool:
    """Raises "no free time" while the timebook was just found sold out. When that lapses, one
    request of this process looks again (True: the one) while the others are still told so, instead
    of a crowd all reading the summaries and slots at once (issue 17)."""
    sold_out, mine = _sold_out.claim(sold_out_key)
    if sold_out and not mine:
        raise _no_free_time()
    return mine


def _hold_first(
    principal: Principal,
    tb: Timebook,
    for_pid: str,
    location_id: str | None,
    start_day: date,
    key: Key | None,
    months: int = 3,
) -> tuple[Hold, bool]:
    from chalicelib.booking import discovery  # only this way to hold reads availability: loaded on first use

    # The person and the waitlist gate once, before discovery (as the person always was): nothing
    # is read between discovery's consistent read of the candidates and the write, and the write
    # is conditioned on the gate as read here.
    person, gate = repository.read_person_and_gate(tb.id, for_pid)
    _may_hold(tb, person)  # the limit and an open offer are answered before "no free time"
    lost_places: set[Candidate] = set()
    skip_old = False
    pages = discovery.SummaryPages()  # the month's summaries once per request, not per attempt
    for _ in range(ATTEMPTS):
        candidates: list[Candidate] = []
        slots: dict[str, Slot] = {}
        for availability in discovery.first_free(tb.id, location_id, start_day, months, pages=pages):
            found = availability.slot
            # a running closure's range, not yet closed slot by slot, offers nothing
            if not closed_ranges.closed(tb.id, found.location_id, found.starts_at):
                slots[found.slot_id] = found
                candidates.extend(
                    c for p in availability.free if (c := Candidate(availability.slot.slot_id, p)) not in lost_places
                )
            # One consistent read of a few slots drawn at random from the group spreads a crowd as
            # well as a second would: stop after the first read that offers a place (issue 20: a
            # second batch was half of the hottest slot's reads).
            if len(candidates) >= FIRST_AVAILABLE_WINDOW or (candidates and availability.ends_batch):
                break
        choice = spread_choice(candidates, FIRST_AVAILABLE_WINDOW)
        if choice is None:
            raise _SoldOut()
        choice_ref = parse_slot(choice.slot_id)
        attempt = _Attempt(choice_ref, slots[choice.slot_id], choice.place, person, skip_old, gate)
        try:
            return _write(principal, tb, for_pid, attempt, key), True
        except repository.ConditionFailed as lost:
            if "waitlist_first" in lost.failed:  # this slot's free places go to the waitlist
                lost_places.update(Candidate(choice.slot_id, p) for p in range(slots[choice.slot_id].capacity))
                continue
            if (again := _lost(principal, key, lost, attempt)) is not None:
                return again, False
            skip_old = attempt.skip_old
            if "place" in lost.failed:
                lost_places.add(choice)
            if "person" in lost.failed or _read_gate_again(gate, lost.failed):
                # another hold or booking of theirs won, or the gate must be read again
                person, gate = repository.read_person_and_gate(tb.id, for_pid)
                _refuse_over_offer(person, clock.now())
    raise slot_unavailable()


def _may_hold(tb: Timebook, person: Person) -> None:
    """Nobody gets a hold they could not use, nor one that would replace an open offer."""
    person.require_lane(limit_of(tb), clock.now())
    _refuse_over_offer(person, clock.now())


def _no_free_time() -> Conflict:
    return Conflict("No free time found.", code="slot_unavailable")


def release_hold(principal: Principal, hold_id: str) -> None:
    """Give a hold back; only its owner can, and a hold that is gone is not found."""
    require_citizen(principal)
    ref = parse_hold_id(hold_id)
    slot_ref = parse_slot_id(ref.slot_id) if ref else None
    if ref is None or slot_ref is None:
        raise NotFound("No such hold.", code="hold_not_found")
    try:
        repository.release_place(slot_ref, ref.place, hold_id, owner=principal.sub)
    except repository.ConditionFailed as error:
        raise NotFound("No such hold.", code="hold_not_found") from error
    for pid in people_for_tag(principal, ref.tag):
        repository.forget_hold(slot_ref.timebook_id, pid, hold_id)
    after_commit(freed=[ref.slot_id])
