"""Appointments (step 5 and the citizen's views of step 6)."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib import clock
from chalicelib.booking import waitlist
from chalicelib.booking.common import (
    IDEMPOTENCY_SECONDS,
    form_of,
    idempotency_record,
    iso,
    location_of,
    new_id,
    request_hash_of,
    require_citizen,
)
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.events import event_for, publish_now
from chalicelib.booking.holds import bookable, parse_slot, slot_unavailable
from chalicelib.domain.appointments import initial_status
from chalicelib.domain.forms import validate_answers
from chalicelib.domain.holds import parse_hold_id
from chalicelib.domain.identity import InvalidIdentity, normalize_phone, validate_pid
from chalicelib.domain.people import Principal
from chalicelib.domain.slots import SlotRef
from chalicelib.errors import Conflict, Forbidden, HoldExpired, InvalidInput, NotFound
from chalicelib.http.schemas import AppointmentIn
from chalicelib.storage import repository
from chalicelib.storage.models import AppointmentItem, InboxMessageItem, SlotItem, TimebookItem

ATTEMPTS = 4
SCOPE = "appointments"


def _validated(principal: Principal, body: AppointmentIn, tb: TimebookItem) -> tuple[str, str, list[dict]]:
    """Everything a client sent is checked before any write; errors are reported field by field."""
    fields: list[tuple[str, str]] = []
    for_pid = principal.sub
    if body.for_pid:
        try:
            for_pid = validate_pid(body.for_pid)
        except InvalidIdentity as error:
            fields.append(("for_pid", str(error)))
    phone = ""
    try:
        phone = normalize_phone(body.phone)
    except InvalidIdentity as error:
        fields.append(("phone", str(error)))
    answers, answer_errors = validate_answers(form_of(tb), body.answers)
    fields.extend(answer_errors.fields)
    if fields:
        raise InvalidInput("Some fields are not valid.", fields=fields)
    if not principal.may_act_for(for_pid):
        raise Forbidden("You may not book on behalf of this person.", code="not_representative")
    return for_pid, phone, [a.__dict__ for a in answers]


def _replay(principal: Principal, key: str, request_hash: str) -> AppointmentItem | None:
    record = idempotency_record(principal, SCOPE, key, request_hash)
    return repository.get_appointment(record.result_id, consistent=True) if record else None


def _hold_failure(ref: SlotRef, place: int, hold_id: str, owner: str) -> Exception:
    """Why a hold could not be consumed: expired (410), someone else's (404) or gone (409)."""
    slot = repository.get_slot(ref, consistent=True)
    claim = repository.claims_of(slot).get(place) if slot else None
    if claim is None or claim.ref != hold_id:
        return Conflict("The hold is gone. Please choose a time again.", code="hold_gone")
    if claim.owner != owner:
        return NotFound("No such hold.", code="hold_not_found")
    if not claim.live(clock.epoch()):
        return HoldExpired("The hold has expired. Please choose a time again.", code="hold_expired")
    return Conflict("The hold could not be used.", code="hold_gone")


def _new_appointment(
    principal: Principal,
    tb: TimebookItem,
    slot: SlotItem,
    place: int,
    for_pid: str,
    phone: str,
    answers: list[dict],
    description: str,
) -> AppointmentItem:
    start, end = datetime.fromisoformat(slot.start), datetime.fromisoformat(slot.end)
    now = iso(clock.now())
    return AppointmentItem(
        id=new_id("ap"),
        status=initial_status(bool(tb.requires_confirmation)).value,
        version=0,
        slot_id=slot.slot_id,
        place=place,
        timebook={"id": tb.id, "name": tb.name, "type": tb.type},
        health_contact={"id": tb.health_contact_id, "name": tb.health_contact_name, "her_id": tb.her_id},
        location=location_of(tb, slot.location_id),
        start=slot.start,
        end=slot.end,
        duration_minutes=int((end - start).total_seconds() // 60),
        cancel_deadline_hours=int(tb.cancel_deadline_hours),
        for_pid=for_pid,
        for_name=principal.name_of(for_pid),
        booked_by=principal.sub,
        booked_by_name=principal.name,
        answers=answers,
        phone=phone,
        description=description,
        created_at=now,
        updated_at=now,
    )


def book(principal: Principal, body: AppointmentIn, idempotency_key: str | None = None) -> tuple[AppointmentItem, bool]:
    """Step 5: make the appointment from a hold or straight from a slot.

    Returns (appointment, created); a repeated Idempotency-Key answers the first appointment.
    """
    require_citizen(principal)
    hold = parse_hold_id(body.hold_id) if body.hold_id else None
    if body.hold_id and hold is None:
        raise NotFound("No such hold.", code="hold_not_found")
    ref = parse_slot(hold.slot_id if hold else body.slot_id or "")
    tb = get_timebook(ref.timebook_id)
    for_pid, phone, answers = _validated(principal, body, tb)
    request_hash = request_hash_of(body)
    if idempotency_key and (existing := _replay(principal, idempotency_key, request_hash)):
        return existing, False
    for _ in range(ATTEMPTS):
        found = bookable(ref)
        slot, now = found.slot, found.now
        place = hold.place if hold else found.random_free_place()
        appointment = _new_appointment(principal, tb, slot, place, for_pid, phone, answers, body.description)
        idempotency = None
        if idempotency_key:
            idempotency = repository.new_idempotency(
                principal.sub,
                SCOPE,
                idempotency_key,
                request_hash,
                appointment.id,
                clock.epoch(now + timedelta(seconds=IDEMPOTENCY_SECONDS)),
            )
        booking = repository.Booking(
            appointment=appointment,
            slot=ref,
            place=place,
            owner=principal.sub,
            hold_id=hold.hold_id if hold else None,
            outbox=event_for(appointment, "requested" if appointment.status == "requested" else "confirmed"),
            idempotency=idempotency,
            active_limit=int(tb.max_active_per_person) if tb.max_active_per_person else None,
        )
        try:
            repository.book(booking, clock.epoch(now))
            publish_now(booking.outbox)
            if hold:
                waitlist.after_booking(slot, hold.place, hold.hold_id)
            return appointment, True
        except repository.ConditionFailed as lost:
            if "idempotency" in lost.failed and idempotency_key:
                existing = _replay(principal, idempotency_key, request_hash)
                if existing:
                    return existing, False
            if hold and "place" in lost.failed:
                raise _hold_failure(ref, hold.place, hold.hold_id, principal.sub) from lost
            if "active" in lost.failed:
                raise Conflict(
                    "There is already an active appointment in this timebook for this person.",
                    code="active_appointment_exists",
                ) from lost
            # Straight from a slot: another booking took that place first; try another one.
    raise slot_unavailable()


def mine(principal: Principal) -> list[AppointmentItem]:
    """«Timeavtaler»: the caller's appointments and those of the people they represent."""
    require_citizen(principal)
    return repository.appointments_of_people(principal.people())


def one_of_mine(principal: Principal, appointment_id: str, consistent: bool = False) -> AppointmentItem:
    """An appointment the caller may see; anyone else's is 'not found', never 'forbidden'."""
    require_citizen(principal)
    item = repository.get_appointment(appointment_id, consistent=consistent)
    if item is None or item.for_pid not in principal.people():
        raise NotFound("No such appointment.", code="appointment_not_found")
    return item


def inbox(principal: Principal) -> list[InboxMessageItem]:
    """«Innboks»: messages to the caller and to the people they represent, newest first."""
    require_citizen(principal)
    return repository.inbox_of(principal.people())
