"""Appointment transitions (step 6 and the municipality's side): confirm, reject, cancel, reschedule.

Each is one transaction: the appointment's new state (conditioned on its current state and
version), the place it frees or takes, and the event for the citizen's inbox (on the item).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chalicelib import clock
from chalicelib.booking import audit
from chalicelib.booking.appointments import one_of_mine
from chalicelib.booking.common import appointment_of, iso, location_of, require_staff_of
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.events import after_commit, change_event
from chalicelib.booking.slots import bookable, jitter, parse_slot, slot_unavailable
from chalicelib.domain.appointments import (
    ALLOWED_FROM,
    ATTENDANCE,
    RESULT,
    Status,
    Transition,
    attendance_may_be_marked,
    citizen_may_cancel,
    frees_place,
    rescheduled_status,
)
from chalicelib.domain.capacity import NEVER_EXPIRES, Claim
from chalicelib.domain.model import Appointment, AuditRecord
from chalicelib.domain.people import Principal
from chalicelib.domain.slots import SlotRef, parse_slot_id
from chalicelib.errors import Conflict, NotFound
from chalicelib.storage import repository

ATTEMPTS = 4

EVENT_KIND = {
    Transition.CONFIRM: "confirmed",
    Transition.REJECT: "rejected",
    Transition.CANCEL: "cancelled",
    Transition.RESCHEDULE: "rescheduled",
    Transition.ARRIVE: "arrived",  # no inbox message; sent to Helsenorge like every change
    Transition.NOSHOW: "noshow",
}


_DONE = {Transition.ARRIVE: "marked as arrived", Transition.NOSHOW: "marked as not arrived"}


def _wrong_state(item: Appointment, transition: Transition) -> Conflict:
    done = _DONE.get(transition, f"{transition.value}ed")
    return Conflict(f"The appointment is {item.status}; it cannot be {done} now.", code="wrong_state")


def _check_state(item: Appointment, transition: Transition) -> None:
    if Status(item.status) not in ALLOWED_FROM[transition]:
        raise _wrong_state(item, transition)


def _staff_appointment(principal: Principal, appointment_id: str) -> Appointment:
    item = repository.get_appointment(appointment_id, consistent=True)
    missing = NotFound("No such appointment.", code="appointment_not_found")
    if item is None:
        raise missing
    require_staff_of(principal, item.health_contact.her_id, missing)
    return item


def _place_of(item: Appointment) -> tuple[SlotRef, int]:
    ref = parse_slot_id(item.slot_id)
    assert ref is not None  # made by us
    return ref, int(item.place)


def _apply(
    load: Callable[[], Appointment],
    transition: Transition,
    reason: str | None = None,
    event_kind: str | None = None,
    audit_of: Callable[[Appointment], AuditRecord] | None = None,
) -> Appointment:
    """State-only transitions: confirm, reject, cancel. Retries when only the version moved."""
    for _ in range(ATTEMPTS):
        item = load()
        _check_state(item, transition)
        now = clock.now()
        new_status = RESULT[transition]
        assert new_status is not None
        change = repository.Change(
            appointment=item,
            expected_status=[item.status],
            expected_version=int(item.version),
            status=new_status.value,
            updated_at=iso(now),
            reason=reason or None,
            event=change_event(event_kind or EVENT_KIND[transition]),  # its reason is the item's
            free=_place_of(item) if frees_place(transition) else None,
            free_lane=frees_place(transition) and _still_counts(item, now),
            audit=audit_of(item) if audit_of else None,
        )
        try:
            repository.change_appointment(change, clock.epoch(now))
        except repository.ConditionFailed as lost:
            if "conflict" in lost.failed:
                jitter()
            continue  # someone changed it first: look again, and refuse if the state moved on
        after_commit(freed=[item.slot_id] if change.free is not None else [])
        done = replace(item, status=new_status.value, updated_at=iso(now), version=item.version + 1)
        return replace(done, reason=reason) if reason else done
    raise Conflict("The appointment changed meanwhile; please try again.", code="conflict")


def _audited(principal: Principal, transition: Transition) -> Callable[[Appointment], AuditRecord]:
    """A staff action's audit record (ids only), written in the same transaction as the change."""
    return lambda item: audit.record(principal, item.timebook.id, f"appointment_{transition.value}", item.id)


def _still_counts(item: Appointment, now: datetime) -> bool:
    """An appointment holds its person lane until it ends; one that has ended already gave it up
    (and the lane may be someone else's now), so freeing it again would be wrong."""
    return item.lane is not None and datetime.fromisoformat(item.end) > now


def confirm(principal: Principal, appointment_id: str) -> Appointment:
    """«Tildelt»: staff confirm a request."""
    load = lambda: _staff_appointment(principal, appointment_id)  # noqa: E731
    return appointment_of(_apply(load, Transition.CONFIRM, audit_of=_audited(principal, Transition.CONFIRM)))


def reject(principal: Principal, appointment_id: str, reason: str) -> Appointment:
    load = lambda: _staff_appointment(principal, appointment_id)  # noqa: E731
    return appointment_of(_apply(load, Transition.REJECT, reason, audit_of=_audited(principal, Transition.REJECT)))


def cancel_as_staff(principal: Principal, appointment_id: str, reason: str) -> Appointment:
    """Staff may cancel at any time (a station closes), with a reason the citizen reads."""
    load = lambda: _staff_appointment(principal, appointment_id)  # noqa: E731
    return appointment_of(_apply(load, Transition.CANCEL, reason, audit_of=_audited(principal, Transition.CANCEL)))


def arrived(principal: Principal, appointment_id: str) -> Appointment:
    """«Møtt»."""
    return _mark_attendance(principal, appointment_id, Transition.ARRIVE)


def noshow(principal: Principal, appointment_id: str) -> Appointment:
    """«Ikke møtt»."""
    return _mark_attendance(principal, appointment_id, Transition.NOSHOW)


def _mark_attendance(principal: Principal, appointment_id: str, transition: Transition) -> Appointment:
    """«Møtt» / «Ikke møtt» at the station: from `booked`, on the appointment's own day only."""
    assert transition in ATTENDANCE

    def load() -> Appointment:
        item = _staff_appointment(principal, appointment_id)
        today = clock.local(clock.now()).date()
        if not attendance_may_be_marked(clock.local(datetime.fromisoformat(item.start)).date(), today):
            raise Conflict(
                f"Attendance can be marked only on the appointment's own day ({item.start[:10]}).", code="wrong_state"
            )
        return item

    return appointment_of(_apply(load, transition, audit_of=_audited(principal, transition)))


def cancel_for_closure(appointment_id: str, reason: str, slot_id: str | None = None) -> Appointment:
    """A staff closure cancels (booking/closures.py): inbox kind `closed`, told like any cancel.

    Only while the appointment is still in `slot_id` (the closed slot it was read in): the write
    is conditioned on the version read, so one moved out meanwhile is read again and left alone."""

    def load() -> Appointment:
        item = repository.get_appointment(appointment_id, consistent=True)
        if item is None:
            raise NotFound("No such appointment.", code="appointment_not_found")
        if slot_id is not None and item.slot_id != slot_id:
            raise Conflict("The appointment has moved out of the closed slot.", code="moved")
        return item

    return _apply(load, Transition.CANCEL, reason, event_kind="closed")


def _citizen_appointment_before_deadline(principal: Principal, appointment_id: str) -> Appointment:
    item = one_of_mine(principal, appointment_id, consistent=True)
    if Status(item.status) in ALLOWED_FROM[Transition.CANCEL] and not citizen_may_cancel(
        datetime.fromisoformat(item.start), int(item.cancel_deadline_hours), clock.now()
    ):
        raise Conflict(
            f"Appointments can be changed at the latest {int(item.cancel_deadline_hours)} hours before.",
            code="cancel_deadline_passed",
        )
    return item


def cancel(principal: Principal, appointment_id: str) -> Appointment:
    """«Avbestill time»: before the timebook's deadline; frees the place in the same step."""
    load = lambda: _citizen_appointment_before_deadline(principal, appointment_id)  # noqa: E731
    return appointment_of(_apply(load, Transition.CANCEL))


def reschedule(principal: Principal, appointment_id: str, slot_id: str) -> Appointment:
    """Move to another slot of the same timebook: the new place is taken and the old one freed at
    once. The appointment takes the new slot's length; where the timebook needs confirmation, a
    confirmed appointment that moves is a request again until staff confirm it."""
    new_ref = parse_slot(slot_id)
    tried: repository.Change | None = None  # the last attempt, whose answer was lost or refused
    for _ in range(ATTEMPTS):
        item = _citizen_appointment_before_deadline(principal, appointment_id)
        if tried is not None and item.slot_id == new_ref.slot_id and item.version > tried.expected_version:
            # An attempt whose answer was lost (a timeout, a retry refused by its own write) moved
            # it: the move is done, not a conflict; its freed place is announced now.
            after_commit(freed=[tried.free[0].slot_id])
            return appointment_of(item)
        _check_state(item, Transition.RESCHEDULE)
        if new_ref.timebook_id != item.timebook.id:
            raise Conflict("A new time must be in the same timebook.", code="other_timebook")
        if new_ref.slot_id == item.slot_id:
            raise Conflict("The appointment is already at this time.", code="same_slot")
        tb = get_timebook(new_ref.timebook_id)
        found = bookable(new_ref)
        slot, now, place = found.slot, found.now, found.random_free_place()
        location = location_of(tb, slot.location_id)
        status = rescheduled_status(Status(item.status), bool(tb.requires_confirmation)).value
        minutes = slot.minutes
        old_start = item.start
        change = repository.Change(
            appointment=item,
            expected_status=[item.status],
            expected_version=int(item.version),
            status=status,
            updated_at=iso(now),
            event=change_event("rescheduled", old_start=old_start),
            free=_place_of(item),
            take=(new_ref, place, Claim("appointment", item.id, item.booked_by, NEVER_EXPIRES)),
            lane_ends_at=clock.epoch(datetime.fromisoformat(slot.end)) if _still_counts(item, now) else None,
            move=repository.Move(slot.slot_id, place, slot.start, slot.end, minutes, location),
        )
        try:
            repository.change_appointment(change, clock.epoch(now))
        except repository.ConditionFailed as lost:
            tried = change
            if "conflict" in lost.failed:
                jitter()
            continue  # the place or the appointment changed meanwhile: look again
        after_commit(freed=[change.free[0].slot_id])
        moved = replace(
            item,
            slot_id=slot.slot_id,
            place=place,
            start=slot.start,
            end=slot.end,
            duration_minutes=minutes,
            status=status,
            location=location,
            updated_at=iso(now),
            version=item.version + 1,
        )
        return appointment_of(moved)
    raise slot_unavailable()
