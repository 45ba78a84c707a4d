"""Appointments (step 5 and the citizen's views of step 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib import clock
from chalicelib.booking import closed_ranges, idempotency
from chalicelib.booking.common import (
    appointment_of,
    form_of,
    iso,
    location_of,
    new_id,
    people_for_tag,
    require_bookable,
    require_citizen,
)
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.events import after_commit, change_event
from chalicelib.booking.idempotency import Key
from chalicelib.booking.slots import bookable_slot, jitter, limit_of, parse_slot, slot_unavailable
from chalicelib.domain.appointments import initial_status
from chalicelib.domain.forms import Answer, validate_answers
from chalicelib.domain.holds import HoldRef, Refusal, parse_hold_id, refusal
from chalicelib.domain.identity import InvalidIdentity, normalize_phone
from chalicelib.domain.model import Appointment, InboxMessage, Person, Slot, Timebook, TimebookRef
from chalicelib.domain.people import Principal, valid_for_pid
from chalicelib.domain.slots import SlotRef, begun
from chalicelib.errors import Conflict, HoldExpired, InvalidInput, NotFound
from chalicelib.storage import repository

if TYPE_CHECKING:
    from chalicelib.booking.commands import BookAppointment
    from chalicelib.domain.paging import PageRequest, Position  # loaded by the request that pages

ATTEMPTS = 6
SCOPE = "appointments"


def _validated(
    principal: Principal, body: BookAppointment, tb: Timebook, hold: HoldRef | None
) -> tuple[str, str, tuple[Answer, ...]]:
    """Everything a client sent is checked before any write; errors are reported field by field."""
    fields: list[tuple[str, str]] = []
    for_pid = principal.sub
    if body.for_pid:
        try:
            for_pid = valid_for_pid(body.for_pid)
        except InvalidInput as error:
            fields.extend(error.fields)
    elif hold is not None:
        # The appointment made from a hold is for whom the hold was taken.
        for_pid = next(iter(people_for_tag(principal, hold.tag)), principal.sub)
    phone = ""
    try:
        phone = normalize_phone(body.phone)
    except InvalidIdentity as error:
        fields.append(("phone", str(error)))
    answers, answer_errors = validate_answers(form_of(tb), body.answers)
    fields.extend(answer_errors.fields)
    if fields:
        raise InvalidInput("Some fields are not valid.", fields=fields)
    principal.require_acts_for(for_pid)
    if hold is not None and not people_for_tag(principal, hold.tag):
        raise NotFound("No such hold.", code="hold_not_found")  # not for anyone the caller acts for
    if hold is not None and not hold.is_for(for_pid):
        raise Conflict("The hold was taken for someone else.", code="hold_for_other_person")
    return for_pid, phone, tuple(answers)


def _replay(principal: Principal, key: Key | None) -> Appointment | None:
    appointment_id = idempotency.first_result(principal, key) if key else None
    return repository.get_appointment(appointment_id, consistent=True) if appointment_id else None


def _hold_failure(ref: SlotRef, place: int, hold_id: str, owner: str) -> Exception:
    """Why a hold could not be consumed: expired (410), someone else's (404) or gone (409)."""
    slot = repository.get_slot(ref, consistent=True)
    claim = slot.claims.get(place) if slot else None
    why = refusal(claim, hold_id, owner, clock.epoch())
    if why is Refusal.GONE:
        return Conflict("The hold is gone. Please choose a time again.", code="hold_gone")
    if why is Refusal.NOT_OWNER:
        return NotFound("No such hold.", code="hold_not_found")
    if why is Refusal.EXPIRED:
        return HoldExpired("The hold has expired. Please choose a time again.", code="hold_expired")
    return Conflict("The hold could not be used.", code="hold_gone")  # its slot was closed, or it changed since


@dataclass(frozen=True, eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class SlotTimes:
    """What an appointment needs of its slot; from a hold id it is known without reading the slot."""

    slot_id: str
    location_id: str
    start: str
    end: str
    minutes: int


def _times_of_hold(ref: SlotRef, hold: HoldRef) -> SlotTimes:
    start = ref.start
    end = (start.astimezone(UTC) + timedelta(minutes=hold.minutes)).astimezone(clock.OSLO)
    return SlotTimes(ref.slot_id, ref.location_id, iso(start), iso(end), hold.minutes)


def _times_of_slot(slot: Slot) -> SlotTimes:
    return SlotTimes(slot.slot_id, slot.location_id, slot.start, slot.end, slot.minutes)


def _new_appointment(
    principal: Principal,
    tb: Timebook,
    times: SlotTimes,
    place: int,
    lane: int | None,
    for_pid: str,
    phone: str,
    answers: tuple[Answer, ...],
    description: str,
    language: str,
    sms_to_phone: bool = False,
) -> Appointment:
    now = iso(clock.now())
    return Appointment(
        id=new_id("ap"),
        status=initial_status(tb.requires_confirmation).value,
        version=0,
        slot_id=times.slot_id,
        place=place,
        start=times.start,
        end=times.end,
        duration_minutes=times.minutes,
        cancel_deadline_hours=tb.cancel_deadline_hours,
        timebook=TimebookRef(tb.id, tb.name, tb.type),
        health_contact=tb.health_contact,
        location=location_of(tb, times.location_id),
        for_pid=for_pid,
        for_name=principal.name_of(for_pid),
        booked_by=principal.sub,
        booked_by_name=principal.name,
        answers=answers,
        phone=phone,
        description=description,
        reason=None,
        created_at=now,
        updated_at=now,
        lane=lane,
        language=language,
        sms_to_phone=sms_to_phone,
    )


@dataclass(eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class _Plan:
    """One try at a booking: where, which lane, and what was read of the person."""

    times: SlotTimes
    place: int
    lane: int | None
    person: Person


def _plan_from_slot(principal: Principal, tb: Timebook, ref: SlotRef, for_pid: str) -> _Plan:
    """Straight from a slot: read the slot and the person at once, choose a place and a lane."""
    slot, person = repository.read_slot_and_person(ref, for_pid)
    found = bookable_slot(slot)
    lane = person.require_lane(limit_of(tb), found.now)
    return _Plan(_times_of_slot(found.slot), found.random_free_place(), lane, person)


def _plan_from_hold(tb: Timebook, ref: SlotRef, hold: HoldRef, for_pid: str, lane: int | None) -> _Plan:
    """From a hold nothing is read: the hold id names the slot, place, length and lane, and the
    transaction checks the exact hold id on the slot and on the person."""
    start = datetime.fromisoformat(_times_of_hold(ref, hold).start)
    if begun(start, clock.now()) or closed_ranges.closed(tb.id, ref.location_id, start):
        raise slot_unavailable()
    seen = Person(tb.id, for_pid, exists=True, hold=hold.hold_id)
    return _Plan(_times_of_hold(ref, hold), hold.place, lane, seen)


def book(
    principal: Principal, body: BookAppointment, idempotency_key: str | None = None, language: str = "nb"
) -> tuple[Appointment, bool]:
    """Step 5: make the appointment from a hold or straight from a slot, in the person's `language`
    (their messages' and .ics's; not part of the request an Idempotency-Key compares).

    Returns (appointment, created); a repeated Idempotency-Key answers the first appointment.
    From a hold this is one DynamoDB request (the transaction); a transaction that lost to a
    concurrent one on the same item is retried after a short random wait, not answered 409.
    """
    require_citizen(principal)
    try:
        appointment, created = _book(principal, body, idempotency_key, language)
    except (Conflict, HoldExpired):
        # A retry of a request that succeeded finds its hold consumed or its lane taken: the key
        # answers the first appointment. Read only on this path: a booking reads nothing first.
        if existing := _replay(principal, Key.of(SCOPE, idempotency_key, body)):
            return appointment_of(existing), False
        raise
    return appointment_of(appointment), created


def _book(
    principal: Principal, body: BookAppointment, idempotency_key: str | None, language: str
) -> tuple[Appointment, bool]:
    hold = parse_hold_id(body.hold_id) if body.hold_id else None
    if body.hold_id and hold is None:
        raise NotFound("No such hold.", code="hold_not_found")
    ref = parse_slot(hold.slot_id if hold else body.slot_id or "")
    tb = get_timebook(ref.timebook_id)
    require_bookable(tb)
    for_pid, phone, answers = _validated(principal, body, tb, hold)
    if hold is None and tb.gated:  # straight from a slot skips no wave and no waiting room (a hold passed them)
        from chalicelib.booking import queue  # only a gated timebook loads their rules

        queue.require_entry(principal, tb.id, for_pid, None)
    key = Key.of(SCOPE, idempotency_key, body)
    lane = hold.lane if hold else None
    if hold and lane is not None and limit_of(tb) is None:
        lane = None  # the limit was lifted since the hold
    owner = _offer_owner(principal, tb, for_pid, hold) or principal.sub
    for _ in range(ATTEMPTS):
        plan = _plan_from_hold(tb, ref, hold, for_pid, lane) if hold else _plan_from_slot(principal, tb, ref, for_pid)
        appointment = _new_appointment(
            principal,
            tb,
            plan.times,
            plan.place,
            plan.lane,
            for_pid,
            phone,
            answers,
            body.description,
            language,
            sms_to_phone=body.sms_to_phone,
        )
        now = clock.now()
        booking = repository.Booking(
            appointment=appointment,
            slot=ref,
            place=plan.place,
            owner=owner,
            hold_id=hold.hold_id if hold else None,
            event=change_event("requested" if appointment.status == "requested" else "confirmed"),
            person=plan.person,
            lane=plan.lane,
            idempotency=idempotency.record(principal, key, appointment.id, clock.epoch(now)),
        )
        try:
            repository.book(booking, clock.epoch(now), clock.epoch(datetime.fromisoformat(plan.times.end)))
            after_commit(booked=(hold, tb.id, for_pid) if hold else None)
            return appointment, True
        except repository.ConditionFailed as lost:
            if "idempotency" in lost.failed and (existing := _replay(principal, key)):
                return existing, False
            if "conflict" in lost.failed:
                jitter()  # a concurrent write on the same item: the hold is still ours, try again
                continue
            if hold and "place" in lost.failed:
                raise _hold_failure(ref, hold.place, hold.hold_id, owner) from lost
            if hold and "person" in lost.failed:
                lane = _lane_after_lost(tb, for_pid, hold)
            # Straight from a slot: another booking took that place first; try another one.
    raise slot_unavailable()


def _offer_owner(principal: Principal, tb: Timebook, for_pid: str, hold: HoldRef | None) -> str | None:
    """A waitlist offer may be booked by the person it is for or a current representative, not
    only by who joined (booking/waitlist.py); only offers (their ids say so) cost this read."""
    if hold is None or not hold.offer:
        return None
    from chalicelib.booking import waitlist  # loaded only for offers

    return waitlist.offer_owner(principal, tb.id, for_pid, hold.hold_id)


def _lane_after_lost(tb: Timebook, for_pid: str, hold: HoldRef) -> int | None:
    """The person part of a booking from a live hold lost: their hold was replaced (409), or the
    lane the hold named was taken by another booking of theirs: try a free one, or 409."""
    person = repository.get_person(tb.id, for_pid)
    if person.hold != hold.hold_id:
        raise Conflict("The hold is gone. Please choose a time again.", code="hold_gone")
    return person.require_lane(limit_of(tb), clock.now())


def mine(principal: Principal) -> list[Appointment]:
    """«Timeavtaler»: the caller's appointments and those of the people they represent."""
    require_citizen(principal)
    return repository.appointments_of_people(principal.people())


def mine_page(principal: Principal, page: PageRequest) -> tuple[list[Appointment], Position | None]:
    """«Timeavtaler», one page: the caller's own first, then each person they represent's."""
    require_citizen(principal)
    found, after = repository.appointments_of_people_page(principal.people(), page)
    return [appointment_of(item) for item in found], after


def inbox_page(principal: Principal, page: PageRequest) -> tuple[list[InboxMessage], Position | None]:
    require_citizen(principal)
    found, after = repository.inbox_page(principal.people(), page)
    return found, after


def one_of_mine(principal: Principal, appointment_id: str, consistent: bool = False) -> Appointment:
    """An appointment the caller may see; anyone else's is 'not found', never 'forbidden'."""
    require_citizen(principal)
    item = repository.get_appointment(appointment_id, consistent=consistent)
    if item is None or item.for_pid not in principal.people():
        raise NotFound("No such appointment.", code="appointment_not_found")
    return item


def appointment_of_mine(principal: Principal, appointment_id: str) -> Appointment:
    """GET /appointments/{id}: one of the caller's appointments (or of whom they represent)."""
    return appointment_of(one_of_mine(principal, appointment_id))


def fhir_of_mine(principal: Principal, appointment_id: str) -> dict[str, Any]:
    """The same R4 Appointment that is sent to Helsenorge."""
    from chalicelib.fhir.appointment import appointment_resource

    return appointment_resource(one_of_mine(principal, appointment_id))


def calendar_of_mine(principal: Principal, appointment_id: str) -> str:
    """«Legg i egen kalender»: the appointment as iCalendar text."""
    from chalicelib.booking.ics import appointment_ics

    return appointment_ics(one_of_mine(principal, appointment_id))


def inbox(principal: Principal) -> list[InboxMessage]:
    """«Innboks»: messages to the caller and to the people they represent, newest first."""
    require_citizen(principal)
    return repository.inbox_of(principal.people())
