"""Stored items as the response models of API.md."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.booking import waitlist as waitlist_cases
from chalicelib.booking.closures import Totals
from chalicelib.booking.common import answers_of, iso
from chalicelib.booking.discovery import OpenSlot
from chalicelib.booking.holds import Hold
from chalicelib.booking.slot_admin import SlotState
from chalicelib.booking.staff import OverviewRow
from chalicelib.domain.waitlist import EntryStatus
from chalicelib.http import schemas
from chalicelib.storage.models import (
    AppointmentItem,
    AuditItem,
    HealthContactItem,
    InboxMessageItem,
    TimebookItem,
    WaitlistEntryItem,
    plain,
)


def health_contact(item: HealthContactItem) -> schemas.HealthContactOut:
    return schemas.HealthContactOut(
        id=item.id,
        name=item.name,
        organisation=item.organisation,
        service=item.service,
        her_id=item.her_id,
        processes=list(item.processes or []),
        phone=item.phone,
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
        waitlist_offer_minutes=int(item.waitlist_offer_minutes or 30),
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
        answers=[
            schemas.AnswerOut.model_validate(a)
            for a in answers_of([plain(a) for a in item.answers or []], plain(item.timebook).get("id", ""))
        ],
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
        closed=bool(row.slot.closed),
        appointments=[
            schemas.OverviewAppointmentOut(id=a.id, status=a.status, for_=schemas.PersonRef(name=a.for_name))  # type: ignore[arg-type]
            for a in row.appointments
        ],
    )


def waitlist_entry(item: WaitlistEntryItem) -> schemas.WaitlistEntryOut:
    """The entry as it is now: a lapsed offer or a passed window shows `expired` before any sweep."""
    status = waitlist_cases.status_of(item)
    offer = waitlist_cases.offer_of(item)
    offer_out = None
    if status == EntryStatus.OFFERED and offer is not None:
        offer_out = schemas.WaitlistOfferOut(
            hold_id=offer.hold_id,
            slot_id=offer.slot_id,
            start=offer.start,
            end=offer.end,
            expires_at=iso(datetime.fromtimestamp(offer.expires_at, UTC)),
        )
    return schemas.WaitlistEntryOut(
        id=item.id,
        timebook_id=item.timebook_id,
        location_id=item.location_id,
        from_=item.window_from,
        to=item.window_to,
        status=status.value,  # type: ignore[arg-type]
        offer=offer_out,
        created_at=iso(datetime.fromisoformat(item.created_at)),
    )


def admin_slot(state: SlotState) -> schemas.SlotAdminOut:
    slot = state.slot
    return schemas.SlotAdminOut(
        id=slot.slot_id,
        start=slot.start,
        end=slot.end,
        location_id=slot.location_id,
        capacity=int(slot.capacity),
        closed=bool(slot.closed),
        taken=state.taken,
        free=state.free,
    )


def closure(totals: Totals) -> schemas.ClosureOut:
    return schemas.ClosureOut(**totals.as_counts(), complete=totals.complete)


def audit_record(item: AuditItem) -> schemas.AuditRecordOut:
    return schemas.AuditRecordOut(
        id=item.id, at=item.at, actor=item.actor, action=item.action, target=item.target, detail=plain(item.detail)
    )
