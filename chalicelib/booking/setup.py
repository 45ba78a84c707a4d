"""Staff set-up: health contacts, timebooks with form and resource, locations, schedules."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib import clock
from chalicelib.booking import audit, queue
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
from chalicelib.domain.model import HealthContact, HealthContactRef, Location, Resource, Slot, Timebook
from chalicelib.domain.people import Principal
from chalicelib.domain.queue import keep_wave_ids, lifetime_moved, listed_waves_removed
from chalicelib.domain.slots import OpeningHours, slot_ref, slot_times
from chalicelib.errors import Conflict, Forbidden
from chalicelib.storage import repository

logger = logging.getLogger("timebok.setup")

if TYPE_CHECKING:
    from chalicelib.booking.commands import (
        AddLocation,
        AddSchedule,
        ChangeTimebook,
        CreateHealthContact,
        CreateTimebook,
    )


def create_health_contact(principal: Principal, body: CreateHealthContact) -> HealthContact:
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.", code="staff_only")
    if body.her_id not in principal.orgs:
        raise Forbidden("You do not administer this HER-id.", code="not_your_organisation")
    contact = HealthContact(
        id=new_id("hc"),
        organisation=body.organisation,
        service=body.service,
        her_id=body.her_id,
        processes=tuple(dict.fromkeys(body.processes)),
        phone=body.phone,
    )
    try:
        repository.create_health_contact(contact, iso(clock.now()))
    except repository.ConditionFailed as error:
        raise Conflict("This HER-id is already registered.", code="her_id_taken") from error
    audit.write(principal, contact.id, "health_contact_created", contact.id)  # the health contact's own log
    return contact


def create_timebook(principal: Principal, body: CreateTimebook) -> Timebook:
    contact = health_contact(body.health_contact_id)
    require_staff_of(principal, contact.her_id, health_contact_missing())
    timebook = Timebook(
        id=new_id("tb"),
        name=body.name,
        type=body.type,
        description=body.description,
        health_contact=HealthContactRef(contact.id, contact.name, contact.her_id),
        resource=Resource(body.resource.name, body.resource.description),
        slot_minutes=None,
        requires_confirmation=body.requires_confirmation,
        hold_minutes=body.hold_minutes,
        cancel_deadline_hours=body.cancel_deadline_hours,
        max_active_per_person=body.max_active_per_person or None,
        waitlist_offer_minutes=body.waitlist_offer_minutes,
        form=body.form,
        retention_days=body.retention_days,
        waiting_room=body.waiting_room,
        waves=keep_wave_ids(body.waves, ()),
    )
    repository.create_timebook(timebook, iso(clock.now()))
    audit.write(principal, timebook.id, "timebook_created", timebook.id)
    return timebook


def change_timebook(principal: Principal, timebook_id: str, body: ChangeTimebook) -> Timebook:
    """PATCH /admin/timebooks/{id}: the settings given, if nobody changed the timebook since the
    caller read `body.version` (409 timebook_changed). Holds already taken stay good whatever the
    change (a booking from a hold passes no room or wave again); only new holds meet the new rules."""
    before = get_timebook(timebook_id, fresh=True)
    require_staff_of(principal, before.her_id, timebook_missing())
    changes = body.changes()
    if "max_active_per_person" in changes:
        changes["max_active_per_person"] = changes["max_active_per_person"] or None
    if "waves" in changes:
        changes["waves"] = keep_wave_ids(body.waves, before.waves)
    after = replace(before, **changes, version=body.version + 1)
    removed = [w.id for w in before.waves if w.id not in {x.id for x in after.waves}]
    if body.version == before.version and not body.drop_lists:
        _require_lists_kept(before, after)
    restamp = lifetime_moved(before, after)
    if restamp:
        queue.ask_restamp(after.id)
    try:
        repository.change_timebook_settings(after, body.version, removed, body.drop_lists)
    except repository.ConditionFailed as error:
        forget_timebook(timebook_id)
        now = get_timebook(timebook_id, fresh=True)
        if now.version == body.version and not body.drop_lists:  # a list came to a wave this leaves out
            _require_lists_kept(now, after)
        raise Conflict(
            "Someone changed this timebook since you read it: read it again and redo your change.",
            code="timebook_changed",
        ) from error
    forget_timebook(timebook_id)  # this process at once; others within the timebook cache's 30 s
    queue.room_changed(before, after)
    if restamp:
        queue.ask_restamp(after.id)  # again: a walk that ran meanwhile read the settings before this write
        _restamp_lists(after.id)
    audit.write(principal, after.id, "timebook_changed", after.id, fields=",".join(sorted(body.given)))
    return after


def _restamp_lists(timebook_id: str) -> None:
    """The lists kept as long as the waves now say, within the request's budget; the every-minute
    schedule does the rest (a failure here too: the change itself is written)."""
    try:
        queue.restamp_lists(timebook_id, clock.monotonic() + queue.RESTAMP_BUDGET_SECONDS)
    except Exception as error:
        logger.warning("lists of %s: stamping goes on in the background (%s)", timebook_id, type(error).__name__)


def _require_lists_kept(before: Timebook, after: Timebook) -> None:
    """A change that leaves out a wave with a priority list is refused unless it says the lists go
    too (`drop_lists`): dropped silently, the people on it would lose their early place."""
    gone = listed_waves_removed(before.waves, after.waves, before.listed_waves)
    if gone:
        named = ", ".join(f"{n + 1} ({before.waves[n].id})" for n in gone)
        raise Conflict(
            f"Wave {named} has a priority list: keep the wave (give its id), or send drop_lists to drop the list.",
            code="wave_has_list",
        )


def add_location(principal: Principal, timebook_id: str, body: AddLocation) -> Location:
    tb = get_timebook(timebook_id, fresh=True)
    require_staff_of(principal, tb.her_id, timebook_missing())
    location = Location(new_id("loc"), body.name, body.address, body.directions)
    repository.add_location(tb.id, location)
    forget_timebook(timebook_id)
    audit.write(principal, tb.id, "location_added", location.id)
    return location


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
    from chalicelib.booking import discovery  # the admin path: loaded only here

    discovery.forget_empty_months(tb.id)  # "first available" may find them at once
    audit.write(principal, tb.id, "schedule_added", body.location_id, created=created, **_window_of(body))
    if tb.slot_minutes != body.slot_minutes:
        repository.set_slot_minutes(tb.id, body.slot_minutes)
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
