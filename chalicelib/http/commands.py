"""Validated request models (http/schemas/) as the use cases' commands (booking/commands/).

Each converter imports its command itself: the commands' dataclasses are built on the first
request that posts one, not when app.py is imported (scripts/import_ratio.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.booking import commands
    from chalicelib.domain.forms import Form
    from chalicelib.http import schemas


def _form(body: schemas.FormIn) -> Form:
    from chalicelib.domain.forms import Form, Question

    return Form(
        title=body.title,
        questions=tuple(
            Question(id=q.id, text=q.text, kind=q.kind, required=q.required, options=tuple(q.options))
            for q in body.questions
        ),
    )


def _health_contact(body: schemas.HealthContactIn) -> commands.CreateHealthContact:
    from chalicelib.booking.commands import CreateHealthContact

    return CreateHealthContact(
        organisation=body.organisation,
        service=body.service,
        her_id=body.her_id,
        processes=tuple(body.processes),
        phone=body.phone,
    )


def _timebook(body: schemas.TimebookIn) -> commands.CreateTimebook:
    from chalicelib.booking.commands import CreateTimebook, ResourceText

    return CreateTimebook(
        health_contact_id=body.health_contact_id,
        name=body.name,
        type=body.type,
        description=body.description,
        resource=ResourceText(name=body.resource.name, description=body.resource.description),
        requires_confirmation=body.requires_confirmation,
        hold_minutes=body.hold_minutes,
        cancel_deadline_hours=body.cancel_deadline_hours,
        max_active_per_person=body.max_active_per_person,
        waitlist_offer_minutes=body.waitlist_offer_minutes,
        form=_form(body.form),
    )


def _location(body: schemas.LocationIn) -> commands.AddLocation:
    from chalicelib.booking.commands import AddLocation

    return AddLocation(name=body.name, address=body.address, directions=body.directions)


def _schedule(body: schemas.ScheduleIn) -> commands.AddSchedule:
    from chalicelib.booking.commands import AddSchedule

    return AddSchedule(
        location_id=body.location_id,
        date_from=body.date_from,
        date_to=body.date_to,
        weekdays=tuple(body.weekdays),
        start_time=body.start_time,
        end_time=body.end_time,
        slot_minutes=body.slot_minutes,
        capacity=body.capacity,
    )


def _slot_patch(body: schemas.SlotPatchIn) -> commands.ChangeSlot:
    from chalicelib.booking.commands import ChangeSlot

    return ChangeSlot(capacity=body.capacity, closed=body.closed)


def _closure(body: schemas.ClosureIn) -> commands.CloseSlots:
    from chalicelib.booking.commands import CloseSlots

    return CloseSlots(start=body.start, end=body.end, reason=body.reason, location_id=body.location_id)


def _hold(body: schemas.HoldIn) -> commands.TakeHold:
    from chalicelib.booking.commands import TakeHold

    return TakeHold(
        slot_id=body.slot_id,
        timebook_id=body.timebook_id,
        location_id=body.location_id,
        date=body.date,
        for_pid=body.for_pid,
    )


def _appointment(body: schemas.AppointmentIn) -> commands.BookAppointment:
    from chalicelib.booking.commands import BookAppointment

    return BookAppointment(
        phone=body.phone,
        hold_id=body.hold_id,
        slot_id=body.slot_id,
        for_pid=body.for_pid,
        answers=dict(body.answers),
        description=body.description,
    )


def _waitlist(body: schemas.WaitlistIn) -> commands.JoinWaitlist:
    from chalicelib.booking.commands import JoinWaitlist

    return JoinWaitlist(
        timebook_id=body.timebook_id,
        location_id=body.location_id,
        window_from=body.window_from,
        window_to=body.window_to,
        for_pid=body.for_pid,
    )


_CONVERTERS: dict[str, Any] = {
    "HealthContactIn": _health_contact,
    "TimebookIn": _timebook,
    "LocationIn": _location,
    "ScheduleIn": _schedule,
    "SlotPatchIn": _slot_patch,
    "ClosureIn": _closure,
    "HoldIn": _hold,
    "AppointmentIn": _appointment,
    "WaitlistIn": _waitlist,
}


def to_command(body: Any) -> Any:
    """The command a validated request model asks for (typed per model at the call site)."""
    return _CONVERTERS[type(body).__name__](body)
