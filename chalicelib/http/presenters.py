"""Stored items as the response models of API.md."""

from __future__ import annotations

from chalicelib.booking.common import iso
from chalicelib.booking.discovery import OpenSlot
from chalicelib.booking.holds import Hold
from chalicelib.booking.staff import OverviewRow
from chalicelib.http import schemas
from chalicelib.storage.models import AppointmentItem, HealthContactItem, InboxMessageItem, TimebookItem, plain


def health_contact(item: HealthContactItem) -> schemas.HealthContactOut:
    return schemas.HealthContactOut(
        id=item.id,
        name=item.name,
        organisation=item.organisation,
        service=item.service,
        her_id=item.her_id,
        processes=list(item.processes or []),
    )


def timebook_summary(item: TimebookItem) -> schemas.TimebookSummaryOut:
    return schemas.TimebookSummaryOut(id=item.id, name=item.name, type=item.type, description=item.description)


def timebook(item: TimebookItem) -> schemas.TimebookOut:
    return schemas.TimebookOut(
        id=item.id,
        name=item.name,
        type=item.type,
        description=item.description,
        health_contact=schemas.HealthContactRef(id=item.health_contact_id, name=item.health_contact_name),
        resource=schemas.ResourceOut.model_validate(plain(item.resource)),
        slot_minutes=int(item.slot_minutes) if item.slot_minutes is not None else None,
        requires_confirmation=bool(item.requires_confirmation),
        hold_minutes=int(item.hold_minutes),
        cancel_deadline_hours=int(item.cancel_deadline_hours),
        max_active_per_person=int(item.max_active_per_person) if item.max_active_per_person else None,
        form=schemas.FormOut.model_validate(plain(item.form)),
        locations=[schemas.LocationOut.model_validate(plain(loc)) for loc in item.locations or []],
    )


def slot(item: OpenSlot) -> schemas.SlotOut:
    return schemas.SlotOut(
        id=item.slot_id, start=item.start, end=item.end, location_id=item.location_id, free=item.free
    )


def hold(item: Hold) -> schemas.HoldOut:
    return schemas.HoldOut(
        id=item.id,
        slot_id=item.slot.slot_id,
        location_id=item.slot.location_id,
        start=item.slot.start,
        end=item.slot.end,
        expires_at=iso(item.expires_at),
    )


def appointment(item: AppointmentItem) -> schemas.AppointmentOut:
    return schemas.AppointmentOut(
        id=item.id,
        status=item.status,  # type: ignore[arg-type]
        start=item.start,
        end=item.end,
        duration_minutes=int(item.duration_minutes),
        timebook=schemas.TimebookRef.model_validate(plain(item.timebook)),
        health_contact=schemas.HealthContactRef.model_validate(plain(item.health_contact)),
        location=schemas.LocationOut.model_validate(plain(item.location)),
        for_=schemas.PersonRef(name=item.for_name),
        booked_by=schemas.PersonRef(name=item.booked_by_name),
        answers=[schemas.AnswerOut.model_validate(plain(a)) for a in item.answers or []],
        phone=item.phone,
        description=item.description,
        reason=item.reason,
        slot_id=item.slot_id,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def inbox_message(item: InboxMessageItem) -> schemas.InboxMessageOut:
    return schemas.InboxMessageOut(
        id=item.id,
        appointment_id=item.appointment_id,
        kind=item.kind,  # type: ignore[arg-type]
        title=item.title,
        body=item.body,
        created_at=item.created_at,
    )


def overview_row(row: OverviewRow) -> schemas.OverviewSlotOut:
    return schemas.OverviewSlotOut(
        slot_id=row.slot.slot_id,
        start=row.slot.start,
        end=row.slot.end,
        location_id=row.slot.location_id,
        capacity=int(row.slot.capacity),
        booked=row.booked,
        held=row.held,
        appointments=[
            schemas.OverviewAppointmentOut(id=a.id, status=a.status, for_=schemas.PersonRef(name=a.for_name))  # type: ignore[arg-type]
            for a in row.appointments
        ],
    )
