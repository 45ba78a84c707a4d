"""Staff set-up: health contacts, timebooks with form and resource, locations, schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import clock
from chalicelib.booking import audit
from chalicelib.booking.common import (
    forget_timebook,
    health_contact,
    health_contact_missing,
    iso,
    location_of,
    new_id,
    require_staff_of,
    timebook_missing,
)
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.booking.slot_admin import check_no_overlap
from chalicelib.domain.forms import Form
from chalicelib.domain.model import HealthContact, Location, Slot, Timebook
from chalicelib.domain.people import Principal
from chalicelib.domain.slots import OpeningHours, slot_ref, slot_times
from chalicelib.errors import Conflict, Forbidden
from chalicelib.storage import mapping, repository
from chalicelib.storage.models import HealthContactItem, TimebookItem

if TYPE_CHECKING:
    from chalicelib.booking.commands import AddLocation, AddSchedule, CreateHealthContact, CreateTimebook


def create_health_contact(principal: Principal, body: CreateHealthContact) -> HealthContact:
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.", code="staff_only")
    if body.her_id not in principal.orgs:
        raise Forbidden("You do not administer this HER-id.", code="not_your_organisation")
    item = HealthContactItem(
        id=new_id("hc"),
        organisation=body.organisation,
        service=body.service,
        her_id=body.her_id,
        processes=list(dict.fromkeys(body.processes)),
        phone=body.phone,
        created_at=iso(clock.now()),
    )
    try:
        repository.create_health_contact(item)
    except repository.ConditionFailed as error:
        raise Conflict("This HER-id is already registered.", code="her_id_taken") from error
    audit.write(principal, item.id, "health_contact_created", item.id)  # the health contact's own log
    return mapping.health_contact(item)


def create_timebook(principal: Principal, body: CreateTimebook) -> Timebook:
    contact = health_contact(body.health_contact_id)
    require_staff_of(principal, contact.her_id, health_contact_missing())
    item = TimebookItem(
        id=new_id("tb"),
        health_contact_id=contact.id,
        health_contact_name=contact.name,
        her_id=contact.her_id,
        name=body.name,
        type=body.type,
        description=body.description,
        resource={"name": body.resource.name, "description": body.resource.description},
        requires_confirmation=body.requires_confirmation,
        hold_minutes=body.hold_minutes,
        cancel_deadline_hours=body.cancel_deadline_hours,
        max_active_per_person=body.max_active_per_person,
        waitlist_offer_minutes=body.waitlist_offer_minutes,
        form=_stored_form(body.form),
        locations=[],
        created_at=iso(clock.now()),
    )
    repository.create_timebook(item)
    audit.write(principal, item.id, "timebook_created", item.id)
    return mapping.timebook(item)


def _stored_form(form: Form) -> dict[str, Any]:
    """The form as the timebook stores it (read back by common.form_of)."""
    return {
        "title": form.title,
        "questions": [
            {"id": q.id, "text": q.text, "kind": q.kind, "required": q.required, "options": list(q.options)}
            for q in form.questions
        ],
    }


def add_location(principal: Principal, timebook_id: str, body: AddLocation) -> Location:
    tb = get_timebook(timebook_id, fresh=True)
    require_staff_of(principal, tb.her_id, timebook_missing())
    location = {"id": new_id("loc"), "name": body.name, "address": body.address, "directions": body.directions}
    repository.add_location(tb, location)
    forget_timebook(timebook_id)
    audit.write(principal, tb.id, "location_added", location["id"])
    return mapping.location(location)


def add_schedule(principal: Principal, timebook_id: str, body: AddSchedule) -> int:
    """Opening hours become slots; the same window posted again makes no slot twice."""
    tb = get_timebook(timebook_id, fresh=True)
    require_staff_of(principal, tb.her_id, timebook_missing())
    location_of(tb, body.location_id)
    hours = OpeningHours(
        location_id=body.location_id,
        date_from=body.date_from,
        date_to=body.date_to,
        weekdays=frozenset(body.weekdays),
        start_time=body.start_time,
        end_time=body.end_time,
        slot_minutes=body.slot_minutes,
        capacity=body.capacity,
    )
    slots = []
    for times in slot_times(hours):
        ref = slot_ref(tb.id, body.location_id, times.start)
        slots.append(Slot(ref.slot_id, tb.id, body.location_id, iso(times.start), iso(times.end), body.capacity))
    check_no_overlap(tb.id, body.location_id, slots)
    created = repository.create_slots(slots)
    audit.write(principal, tb.id, "schedule_added", body.location_id, created=created, **_window_of(body))
    if tb.slot_minutes != body.slot_minutes:
        repository.set_slot_minutes(tb, body.slot_minutes)
        forget_timebook(timebook_id)
    return created


def _window_of(body: AddSchedule) -> dict[str, str | int]:
    return {
        "from": body.date_from.isoformat(),
        "to": body.date_to.isoformat(),
        "start_time": body.start_time.isoformat("minutes"),
        "end_time": body.end_time.isoformat("minutes"),
        "slot_minutes": body.slot_minutes,
        "capacity": body.capacity,
    }
