"""The domain's objects (chalicelib/domain/model.py) as the response models of API.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib import clock
from chalicelib.domain.identity import masked
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.booking.closures import Preview, Totals
    from chalicelib.booking.discovery import OpenSlot
    from chalicelib.booking.mydata import MyData
    from chalicelib.booking.queue import Place
    from chalicelib.booking.slot_admin import SlotState
    from chalicelib.booking.staff import BulkResult, DayListRow, OverviewRow, WaitingRow
    from chalicelib.domain.forms import Form
    from chalicelib.domain.model import (
        Appointment,
        AuditRecord,
        HealthContact,
        Hold,
        InboxMessage,
        Location,
        Timebook,
        WaitlistEntry,
    )
    from chalicelib.http import schemas
else:
    schemas = lazy_module("chalicelib.http.schemas")  # pydantic classes built on first use


def health_contact(contact: HealthContact) -> schemas.HealthContactOut:
    return schemas.HealthContactOut(
        id=contact.id,
        name=contact.name,
        organisation=contact.organisation,
        service=contact.service,
        her_id=contact.her_id,
        processes=list(contact.processes),
        phone=contact.phone,
    )


def timebook_summary(tb: Timebook) -> schemas.TimebookSummaryOut:
    return schemas.TimebookSummaryOut(id=tb.id, name=tb.name, type=tb.type, description=tb.description)


def location(place: Location) -> schemas.LocationOut:
    return schemas.LocationOut(id=place.id, name=place.name, address=place.address, directions=place.directions)


def form(found: Form) -> schemas.FormOut:
    return schemas.FormOut(
        title=found.title,
        questions=[
            schemas.QuestionOut(id=q.id, text=q.text, kind=q.kind, required=q.required, options=list(q.options))
            for q in found.questions
        ],
    )


def timebook(tb: Timebook) -> schemas.TimebookOut:
    return schemas.TimebookOut(
        id=tb.id,
        name=tb.name,
        type=tb.type,
        description=tb.description,
        health_contact=schemas.HealthContactRef(id=tb.health_contact.id, name=tb.health_contact.name),
        resource=schemas.ResourceOut(name=tb.resource.name, description=tb.resource.description),
        slot_minutes=tb.slot_minutes,
        requires_confirmation=tb.requires_confirmation,
        hold_minutes=tb.hold_minutes,
        cancel_deadline_hours=tb.cancel_deadline_hours,
        max_active_per_person=tb.max_active_per_person,
        waitlist_offer_minutes=tb.waitlist_offer_minutes,
        retention_days=tb.retention_days,
        form=form(tb.form),
        locations=[location(place) for place in tb.locations],
        waiting_room=None
        if tb.waiting_room is None
        else schemas.WaitingRoomOut(enabled=tb.waiting_room.enabled, admit_per_minute=tb.waiting_room.admit_per_minute),
        waves=[
            schemas.WaveOut(
                opens_at=clock.local(w.opens_at).isoformat(),
                born_from=w.born_from.isoformat() if w.born_from else None,
                born_to=w.born_to.isoformat() if w.born_to else None,
                id=w.id,
            )
            for w in tb.waves
        ],
        version=tb.version,
    )


def queue_place(place: Place) -> schemas.QueueOut:
    """A ticket and where it stands (booking/queue.py Place)."""
    return schemas.QueueOut(
        ticket=place.ticket,
        arrival=place.arrival,
        position=place.standing.position,
        state=place.standing.state,
        estimated_wait_seconds=place.standing.estimated_wait_seconds,
        poll_after_seconds=place.standing.poll_after_seconds,
        sold_out=place.sold_out,
    )


def slot(found: OpenSlot) -> schemas.SlotOut:
    return schemas.SlotOut(
        id=found.slot_id, start=found.start, end=found.end, location_id=found.location_id, free=found.free
    )


def hold(held: Hold) -> schemas.HoldOut:
    from chalicelib.booking.common import iso  # loaded already by the use case that made the hold

    return schemas.HoldOut(
        id=held.id,
        slot_id=held.slot_id,
        location_id=held.location_id,
        start=held.start,
        end=held.end,
        expires_at=iso(held.expires_at),
        for_=schemas.PersonIdRef(name=held.for_name, pid=held.for_pid) if held.for_pid else None,
    )


def appointment(found: Appointment) -> schemas.AppointmentOut:
    return schemas.AppointmentOut(
        id=found.id,
        status=found.status,  # type: ignore[arg-type]
        start=found.start,
        end=found.end,
        duration_minutes=found.duration_minutes,
        timebook=schemas.TimebookRef(id=found.timebook.id, name=found.timebook.name, type=found.timebook.type),
        health_contact=schemas.HealthContactRef(id=found.health_contact.id, name=found.health_contact.name),
        location=location(found.location),
        for_=schemas.PersonRef(name=found.for_name),
        booked_by=schemas.PersonRef(name=found.booked_by_name),
        answers=[
            schemas.AnswerOut(question_id=a.question_id, question=a.question, answer=a.answer) for a in found.answers
        ],
        phone=found.phone,
        description=found.description,
        sms_to_phone=found.sms_to_phone,
        reason=found.reason,
        slot_id=found.slot_id,
        created_at=found.created_at,
        updated_at=found.updated_at,
    )


def citizen_appointment(found: Appointment) -> schemas.CitizenAppointmentOut:
    """The citizen's own view: `for` with the person's id (only ever the caller's own or a
    represented person's: the use cases hand out nothing else to a citizen)."""
    fields = appointment(found).model_dump(by_alias=False)
    fields["for_"] = schemas.PersonIdRef(name=found.for_name, pid=found.for_pid)
    return schemas.CitizenAppointmentOut(**fields)


def inbox_message(message: InboxMessage) -> schemas.InboxMessageOut:
    return schemas.InboxMessageOut(
        id=message.id,
        appointment_id=message.appointment_id,
        kind=message.kind,  # type: ignore[arg-type]
        title=message.title,
        body=message.body,
        created_at=message.created_at,
    )


def overview_row(row: OverviewRow) -> schemas.OverviewSlotOut:
    return schemas.OverviewSlotOut(
        slot_id=row.slot.slot_id,
        start=row.slot.start,
        end=row.slot.end,
        location_id=row.slot.location_id,
        capacity=row.slot.capacity,
        booked=row.booked,
        held=row.held,
        closed=row.slot.closed,
        appointments=[
            schemas.OverviewAppointmentOut(id=a.id, status=a.status, for_=schemas.PersonRef(name=a.for_name))  # type: ignore[arg-type]
            for a in row.appointments
        ],
    )


def waitlist_entry(entry: WaitlistEntry) -> schemas.WaitlistEntryOut:
    """The entry as it is now: a lapsed offer or a passed window shows `expired` before any sweep."""
    from chalicelib.booking.common import iso  # loaded already by the use case that read the entry
    from chalicelib.domain.waitlist import EntryStatus

    offer = entry.offer
    offer_out = None
    if entry.status == EntryStatus.OFFERED and offer is not None:
        offer_out = schemas.WaitlistOfferOut(
            hold_id=offer.hold_id,
            slot_id=offer.slot_id,
            start=offer.start,
            end=offer.end,
            expires_at=iso(datetime.fromtimestamp(offer.expires_at, UTC)),
        )
    return schemas.WaitlistEntryOut(
        id=entry.id,
        timebook_id=entry.timebook_id,
        location_id=entry.location_id,
        from_=entry.window_from,
        to=entry.window_to,
        status=entry.status.value,  # type: ignore[arg-type]
        offer=offer_out,
        created_at=iso(datetime.fromisoformat(entry.created_at)),
        position=entry.position,
    )


def admin_slot(state: SlotState) -> schemas.SlotAdminOut:
    slot = state.slot
    return schemas.SlotAdminOut(
        id=slot.slot_id,
        start=slot.start,
        end=slot.end,
        location_id=slot.location_id,
        capacity=slot.capacity,
        closed=slot.closed,
        taken=state.taken,
        free=state.free,
    )


def closure(totals: Totals) -> schemas.ClosureOut:
    return schemas.ClosureOut(**totals.as_counts(), complete=totals.complete, id=totals.id, remaining=totals.remaining)


def closure_preview(found: Preview) -> schemas.ClosurePreviewOut:
    return schemas.ClosurePreviewOut(
        closed_slots=found.closed_slots, cancelled=found.cancelled, notified=found.notified, people=found.people
    )


def bulk_result(result: BulkResult) -> schemas.BulkResultOut:
    if result.error is not None:
        error = schemas.BulkErrorOut(code=result.error.code, message=result.error.message)
        return schemas.BulkResultOut(id=result.id, error=error)
    assert result.appointment is not None
    return schemas.BulkResultOut(id=result.id, status=result.appointment.status)


def day_list_row(row: DayListRow) -> schemas.DayListItemOut:
    return schemas.DayListItemOut(
        appointment_id=row.appointment_id,
        start=row.start,
        end=row.end,
        location_id=row.location_id,
        name=row.name,
        birth_date=row.birth_date,
        status=row.status,
    )


def audit_record(record: AuditRecord) -> schemas.AuditRecordOut:
    return schemas.AuditRecordOut(
        id=record.id,
        at=record.at,
        actor=masked(record.actor),  # a staff member's identity number, never whole in a list
        action=record.action,
        target=record.target,
        detail=dict(record.detail),
    )


def waiting_row(row: WaitingRow) -> schemas.WaitingOut:
    offer = None
    if row.offer_start and row.offer_end and row.offer_expires_at:
        offer = {"start": row.offer_start, "end": row.offer_end, "expires_at": row.offer_expires_at}
    return schemas.WaitingOut(
        position=row.position,
        id=row.entry_id,
        status=row.status,
        location_id=row.location_id,
        from_=row.window_from,
        to=row.window_to,
        person=row.person,
        birth_date=row.birth_date,
        created_at=row.created_at,
        offer=offer,
    )


def my_data(found: MyData) -> schemas.MyDataOut:
    """GET /me/data: the citizen's copy, in the shapes of the lists it gathers."""
    return schemas.MyDataOut(
        generated_at=found.generated_at.isoformat(timespec="seconds"),
        people=[
            schemas.DataSubjectOut(pid=pid, name=name, relation="self" if own else "represented")
            for pid, name, own in found.people
        ],
        appointments=[appointment(a) for a in found.appointments],
        waitlist=[waitlist_entry(e) for e in found.waitlist],
        inbox=[inbox_message(m) for m in found.inbox],
        audit=[schemas.MyAuditOut(at=r.at, action=r.action, appointment_id=r.target) for r in found.audit],
        priority_lists=[
            schemas.MyListingOut(
                pid=x.pid,
                timebook_id=x.timebook_id,
                timebook_name=x.timebook_name,
                wave=x.wave,
                opens_at=clock.local(x.opens_at).isoformat(),
            )
            for x in found.priority_lists
        ],
        complete=found.complete,
    )
