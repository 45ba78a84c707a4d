"""Staff closures: a station or a day closes. Every slot starting in [from, to) is closed (no new
holds or bookings), each active appointment in them is cancelled with the reason (inbox kind
`closed`, told like any cancel), and waiting people whose window meets the range are told.

Every step is idempotent (a closed slot is not closed again, a cancelled appointment not
cancelled again, a waiting entry told once per closure), so posting the same closure again
changes and sends nothing new. A closure is recorded before its first step; a request works for
at most BUDGET_SECONDS and the every-minute schedule finishes what is left (`finish_unfinished`),
so a closure is never left half-done without a way to finish. Work goes day by day, all days
closed first, then all cancelled; the progress is saved in the closure's record, so a later run
starts where the last stopped and never re-reads or re-writes a finished day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from chalicelib import budget, clock, settings
from chalicelib.booking import audit, closed_ranges, lifecycle, waitlist
from chalicelib.booking.common import location_of, require_staff_of, timebook_missing
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.events import after_commit
from chalicelib.domain.appointments import ACTIVE, Status
from chalicelib.domain.closures import Closure, closure_id_of
from chalicelib.domain.model import Slot
from chalicelib.domain.people import Principal
from chalicelib.domain.slots import parse_slot_id
from chalicelib.errors import NotFound, Throttled, TimebokError
from chalicelib.storage import keys, repository, staffwork
from chalicelib.storage import waitlist as waitlist_storage

if TYPE_CHECKING:
    from chalicelib.booking.commands import CloseSlots

logger = logging.getLogger("timebok.closures")

# A request stops starting new steps after this long (the API Lambda has 10 s); the schedule goes on.
BUDGET_SECONDS = 5.0


@dataclass
class Totals:
    closed_slots: int = 0
    cancelled: int = 0
    notified: int = 0
    complete: bool = True
    id: str = ""  # the closure's public id (timebook and closure), for GET /admin/closures/{id}
    remaining: int = 0  # active appointments still to cancel (known while not complete)

    def as_counts(self) -> dict[str, int]:
        return {"closed_slots": self.closed_slots, "cancelled": self.cancelled, "notified": self.notified}


def close(principal: Principal, timebook_id: str, body: CloseSlots) -> Totals:
    """POST /admin/timebooks/{id}/closures."""
    tb = get_timebook(timebook_id)
    require_staff_of(principal, tb.her_id, timebook_missing())
    if body.location_id:
        location_of(tb, body.location_id)
    closure_id = closure_id_of(body.location_id, body.start, body.end)
    closure = Closure(tb.id, closure_id, body.location_id, body.start, body.end, body.reason)
    detail = {
        "location_id": closure.location_id or "",
        "from": closure.start.isoformat(),
        "to": closure.end.isoformat(),
        "reason": closure.reason,
    }
    record = audit.record(
        principal,
        tb.id,
        "closure",
        closure.closure_id,
        location_id=closure.location_id or "",
        **{"from": detail["from"], "to": detail["to"]},
    )
    staffwork.start_closure(tb.id, closure.closure_id, detail, record)
    closed_ranges.forget()  # its whole range refuses holds and bookings from now on
    _republish_views(closure)
    totals = run(closure, clock.monotonic() + _budget_seconds())
    totals.id = public_id(closure)
    return totals


def _republish_views(closure: Closure) -> None:
    """The public views of the closure's months at once (the days its run has not reached show no
    free place: availability_docs asks closed_ranges); best effort within the request's budget:
    the stream republishes each day as the run closes it, and the publisher's backstop the rest."""
    from chalicelib.booking import availability_docs  # the views' publisher: only a closure needs it here

    month = clock.local(closure.start).date().replace(day=1)
    last = clock.local(closure.end).date()
    try:
        while month <= last:
            availability_docs.publish(closure.timebook_id, f"{month:%Y-%m}")
            month = (month + timedelta(days=32)).replace(day=1)
    except Throttled:
        logger.info("closure %s: views republished in part (budget)", closure.closure_id)


def _budget_seconds() -> float:
    """CLOSURE_BUDGET_SECONDS (e.g. 0 in a browser test: the schedule finishes every closure)."""
    text = settings.get().closure_budget_seconds
    return float(text) if text else BUDGET_SECONDS


def public_id(closure: Closure) -> str:
    return f"{closure.timebook_id}_{closure.closure_id}"


def progress(principal: Principal, closure_public_id: str) -> Totals:
    """GET /admin/closures/{id}: what a closure did; while it goes on, counted from the slots and
    appointments in its range (reads only), so staff see it advance until `complete`."""
    missing = NotFound("No such closure.", code="closure_not_found")
    timebook_id, _, closure_id = closure_public_id.rpartition("_")
    tb = repository.get_timebook(timebook_id) if timebook_id and closure_id else None
    if tb is None:
        raise missing
    require_staff_of(principal, tb.her_id, missing)
    found = staffwork.get_closure(tb.id, closure_id)
    if found is None:
        raise missing
    closure, done = found
    if done:
        counts = closure.done or {}
        return Totals(**{k: int(counts.get(k, 0)) for k in Totals().as_counts()}, id=closure_public_id)
    first, last = clock.local(closure.start).date(), clock.local(closure.end).date()
    slots = [
        s
        for s in repository.slots_between(tb.id, first, last, closure.location_id)
        if closure.covers(s.location_id, s.starts_at)
    ]
    in_range = {s.slot_id for s in slots}
    cancelled = remaining = 0
    day = first
    while day <= last:
        for item in repository.appointments_of_timebook(tb.id, day=day):
            if item.slot_id not in in_range:
                continue
            if item.status == Status.CANCELLED.value and item.reason == closure.reason:
                cancelled += 1
            elif Status(item.status) in ACTIVE:
                remaining += 1
        day += timedelta(days=1)
    notified = int((closure.done or {}).get("notified", 0))
    closed = sum(1 for s in slots if s.closed)
    return Totals(closed, cancelled, notified, complete=False, id=closure_public_id, remaining=remaining)


# Progress kept in the closure's record (with its counts): the last local day fully closed, and
# the last fully cancelled. A later run starts after them, never re-reading what is done.
CLOSED_THROUGH = "closed_through"
CANCELLED_THROUGH = "cancelled_through"


def run(closure: Closure, deadline: float) -> Totals:
    """Do the closure's steps until done or past the deadline; a later run does the rest.

    Day by day, first closing every slot of the range (so nothing new is booked into it while the
    rest runs), then cancelling what the closed slots hold. After each day the progress is saved;
    the deadline is checked before each day and each slot, so one run's work is bounded."""
    totals = Totals()
    done = dict(closure.done or {})
    tb = get_timebook(closure.timebook_id)
    first, last = clock.local(closure.start).date(), clock.local(closure.end).date()
    days_done = 0

    def late() -> bool:
        """Past the deadline, once this run has done something (so every run makes progress)."""
        return bool(days_done or totals.closed_slots or totals.cancelled) and clock.monotonic() > deadline

    for phase, step in ((CLOSED_THROUGH, _close_day), (CANCELLED_THROUGH, _cancel_day)):
        day = max(first, date.fromordinal(done[phase] + 1)) if phase in done else first
        while day <= last:
            if late():
                _checkpoint(closure, done, totals)
                return _unfinished(closure, totals)
            if not step(closure, tb.id, day, totals, late):
                _checkpoint(closure, done, totals)  # stopped within the day: it is done again
                return _unfinished(closure, totals)
            days_done += 1
            done[phase] = day.toordinal()
            day += timedelta(days=1)
            if day <= last and (day - first).days % CHECKPOINT_DAYS == 0:
                _checkpoint(closure, done, totals)
    totals.notified = _tell_waiting(closure)
    _finish(closure, totals)
    after_commit(freed_in=tb.id)  # offers taken back may find a place outside the closure
    return totals


CHECKPOINT_DAYS = 7  # progress is saved at least this often (and whenever a run stops)


def _covered(closure: Closure, timebook_id: str, day: date) -> list[Slot]:
    return [
        s
        for s in repository.slots_between(timebook_id, day, day, closure.location_id)
        if closure.covers(s.location_id, s.starts_at)
    ]


def _close_day(closure: Closure, timebook_id: str, day: date, totals: Totals, late: Callable[[], bool]) -> bool:
    """Close the day's covered slots (an open one only: a closed slot is not written again); the
    day's summaries recount once per location, not once per slot."""
    recount: set[str] = set()
    try:
        for slot in _covered(closure, timebook_id, day):
            if slot.closed:
                continue
            if late():
                return False
            ref = parse_slot_id(slot.slot_id)
            if ref is not None and staffwork.close_slot(ref, recount=False):
                totals.closed_slots += 1
                recount.add(ref.location_id)
    finally:
        for location_id in recount:
            repository.invalidate_summary(timebook_id, day, location_id)
    return True


def _cancel_day(closure: Closure, timebook_id: str, day: date, totals: Totals, late: Callable[[], bool]) -> bool:
    """Take back the offers in the day's closed slots and cancel their active appointments, each
    only while it is still in that slot (lifecycle.cancel_for_closure)."""
    for slot in _covered(closure, timebook_id, day):
        if not slot.claims:
            continue
        if late():
            return False
        ref = parse_slot_id(slot.slot_id)
        fresh = repository.get_slot(ref, consistent=True) if ref else None
        if fresh is None:
            continue
        waitlist.take_back_offers(fresh)
        for claim in fresh.claims.values():
            if claim.kind != "appointment":
                continue
            try:
                lifecycle.cancel_for_closure(claim.ref, closure.reason, slot_id=slot.slot_id)
                totals.cancelled += 1
            except TimebokError:
                pass  # cancelled already (a repeat), moved out of the slot, or changed meanwhile
    return True


def _checkpoint(closure: Closure, done: dict[str, int], totals: Totals) -> None:
    """Save how far the closure got and what it did so far (its record stays unfinished)."""
    counts = {k: int((closure.done or {}).get(k, 0)) + v for k, v in totals.as_counts().items()}
    progress = {k: v for k, v in done.items() if k in (CLOSED_THROUGH, CANCELLED_THROUGH)}
    try:
        staffwork.checkpoint_closure(closure.timebook_id, closure.closure_id, {**counts, **progress})
    except Exception as error:  # the next run redoes what was not saved: every step is idempotent
        logger.warning("closure %s: saving progress failed (%s)", closure.closure_id, type(error).__name__)


def _tell_waiting(closure: Closure) -> int:
    """Tell each live waitlist entry whose window meets the closed range, once per closure."""
    tb = get_timebook(closure.timebook_id)
    told = 0
    for entry in waitlist_storage.queue(tb.id, limit=1000):
        if not closure.meets(entry.location_id, entry.window):
            continue
        event = waitlist.waitlist_event(
            tb,
            entry,
            "closed",
            start=closure.start.isoformat(),
            end=closure.end.isoformat(),
            reason=closure.reason,
        )
        if waitlist_storage.tell_once(keys.told(tb.id, closure.closure_id, entry.id), event):
            told += 1
    return told


def _unfinished(closure: Closure, totals: Totals) -> Totals:
    totals.complete = False
    logger.info("closure %s goes on in the background", closure.closure_id)
    return totals  # its progress was saved by _checkpoint


def _summed(closure: Closure, totals: Totals) -> dict[str, int]:
    """What every run of the closure did so far (a later run adds its part to the record's)."""
    before = closure.done or {}
    return {k: int(before.get(k, 0)) + v for k, v in totals.as_counts().items()}


def _finish(closure: Closure, totals: Totals) -> None:
    staffwork.finish_closure(closure.timebook_id, closure.closure_id, _summed(closure, totals))
    closed_ranges.forget()


def finish_unfinished(budget_seconds: float = 40.0) -> int:
    """The schedule's part: continue closures a request left unfinished (or died in). Returns how
    many were finished."""
    deadline = clock.monotonic() + budget_seconds
    finished = 0
    for closure in budget.within(staffwork.unfinished_closures(), deadline):
        try:
            if run(closure, deadline).complete:
                finished += 1
        except Exception as error:
            logger.warning("closure %s: background run failed (%s)", closure.closure_id, type(error).__name__)
    return finished


@dataclass(frozen=True)
class Preview:
    """What posting a closure would do now, before staff confirm it."""

    closed_slots: int  # open slots it would close
    cancelled: int  # active appointments it would cancel
    notified: int  # waitlist entries it would tell
    people: int  # distinct persons who would get a message (see `preview`)


def preview(principal: Principal, timebook_id: str, body: CloseSlots) -> Preview:
    """POST /admin/timebooks/{id}/closures/preview: reads only; nothing is written or audited.

    A cancel's and a waitlist message go to the inbox of whom it is for, which the person who
    booked or joined for them also reads: each such person counts once, however many of the
    range's appointments and entries concern them."""
    tb = get_timebook(timebook_id)
    require_staff_of(principal, tb.her_id, timebook_missing())
    if body.location_id:
        location_of(tb, body.location_id)
    closure = Closure(
        tb.id,
        closure_id_of(body.location_id, body.start, body.end),
        body.location_id,
        body.start,
        body.end,
        body.reason,
    )
    first, last = clock.local(closure.start).date(), clock.local(closure.end).date()
    slots = [
        s
        for s in repository.slots_between(tb.id, first, last, closure.location_id)
        if closure.covers(s.location_id, s.starts_at)
    ]
    # What the closure cancels: the appointments its slots hold (as _cancel_day finds them).
    held = {c.ref for s in slots for c in s.claims.values() if c.kind == "appointment"}
    days = sorted({clock.local(s.starts_at).date() for s in slots if s.claims})
    people: set[str] = set()
    cancelled = 0
    for day in days:
        budget.check()  # a year's range read by a busy table answers 429, not a timeout
        for item in repository.appointments_of_timebook(tb.id, day=day):
            if item.id in held and Status(item.status) in ACTIVE:
                cancelled += 1
                people.update((item.for_pid, item.booked_by))
    notified = 0
    for page in waitlist_storage.queue_pages(tb.id):
        budget.check()
        for entry in page:
            if closure.meets(entry.location_id, entry.window):
                notified += 1
                people.update((entry.for_pid, entry.owner))
    people.discard("")
    return Preview(sum(1 for s in slots if not s.closed), cancelled, notified, len(people))
