"""Stored items as the domain's objects (chalicelib/domain/model.py): the one place that reads an
item's attributes for the layers above, so the HTTP layer never sees PynamoDB."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.availability import DaySummary, SlotSummary
from chalicelib.domain.capacity import Claim
from chalicelib.domain.closures import Closure
from chalicelib.domain.forms import Answer, Form, Question
from chalicelib.domain.limits import Lane
from chalicelib.domain.model import (
    Appointment,
    AuditRecord,
    Event,
    HealthContact,
    HealthContactRef,
    IdempotencyRecord,
    InboxMessage,
    Location,
    Person,
    Resource,
    Slot,
    Timebook,
    TimebookRef,
    WaitlistEntry,
)
from chalicelib.domain.retention import DEFAULT_RETENTION_DAYS
from chalicelib.domain.waitlist import Entry, EntryStatus, Offer
from chalicelib.storage import keys
from chalicelib.storage.models import (
    AppointmentItem,
    AuditItem,
    DaySummaryItem,
    EventItem,
    HealthContactItem,
    IdempotencyItem,
    InboxMessageItem,
    PersonItem,
    SlotItem,
    TimebookItem,
    WaitlistEntryItem,
    plain,
)

if TYPE_CHECKING:  # built only for a timebook that has them: others never load their rules
    from chalicelib.domain.queue import WaitingRoom, Wave


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


def health_contact(item: HealthContactItem) -> HealthContact:
    return HealthContact(
        id=item.id,
        organisation=item.organisation,
        service=item.service,
        her_id=item.her_id,
        processes=tuple(item.processes or ()),
        phone=item.phone,
    )


def health_contact_item(contact: HealthContact, created_at: str) -> HealthContactItem:
    return HealthContactItem(
        id=contact.id,
        organisation=contact.organisation,
        service=contact.service,
        her_id=contact.her_id,
        processes=list(contact.processes),
        phone=contact.phone,
        created_at=created_at,
    )


def location_item(place: Location) -> dict[str, str]:
    return {"id": place.id, "name": place.name, "address": place.address, "directions": place.directions}


def form_item(form: Form) -> dict[str, Any]:
    """The form as the timebook stores it (a form never changes once made)."""
    return {
        "title": form.title,
        "questions": [
            {"id": q.id, "text": q.text, "kind": q.kind, "required": q.required, "options": list(q.options)}
            for q in form.questions
        ],
    }


def timebook_item(timebook: Timebook, created_at: str) -> TimebookItem:
    return TimebookItem(
        id=timebook.id,
        health_contact_id=timebook.health_contact.id,
        health_contact_name=timebook.health_contact.name,
        her_id=timebook.health_contact.her_id,
        name=timebook.name,
        type=timebook.type,
        description=timebook.description,
        resource={"name": timebook.resource.name, "description": timebook.resource.description},
        requires_confirmation=timebook.requires_confirmation,
        hold_minutes=timebook.hold_minutes,
        cancel_deadline_hours=timebook.cancel_deadline_hours,
        max_active_per_person=timebook.max_active_per_person,
        slot_minutes=timebook.slot_minutes,
        waitlist_offer_minutes=timebook.waitlist_offer_minutes,
        retention_days=timebook.retention_days,
        form=form_item(timebook.form),
        locations=[location_item(place) for place in timebook.locations],
        created_at=created_at,
        waiting_room=waiting_room_item(timebook.waiting_room),
        waves=waves_item(timebook.waves),
    )


def waves_item(found: tuple[Wave, ...]) -> list[dict[str, Any]]:
    return [
        {
            "opens_at": w.opens_at.isoformat(),
            "born_from": w.born_from.isoformat() if w.born_from else None,
            "born_to": w.born_to.isoformat() if w.born_to else None,
            "id": w.id,
        }
        for w in found
    ]


def waiting_room_item(room: WaitingRoom | None) -> dict[str, Any] | None:
    return None if room is None else {"enabled": room.enabled, "admit_per_minute": room.admit_per_minute}


def waiting_room(raw: Any) -> WaitingRoom | None:
    found = plain(raw) if raw is not None else None
    if not found:
        return None
    from chalicelib.domain.queue import WaitingRoom

    return WaitingRoom(bool(found.get("enabled")), int(found.get("admit_per_minute") or 60))


def waves(raw: Any) -> tuple[Wave, ...]:
    found = [plain(w) for w in raw or []]
    if not found:
        return ()
    from chalicelib.domain.queue import Wave, legacy_wave_id

    return tuple(
        Wave(
            datetime.fromisoformat(w["opens_at"]),
            date.fromisoformat(w["born_from"]) if w.get("born_from") else None,
            date.fromisoformat(w["born_to"]) if w.get("born_to") else None,
            str(w.get("id") or legacy_wave_id(n)),
        )
        for n, w in enumerate(found)
    )


def location(raw: Any) -> Location:
    found = plain(raw)
    return Location(
        id=str(found.get("id", "")),
        name=str(found.get("name", "")),
        address=str(found.get("address", "")),
        directions=str(found.get("directions") or ""),
    )


def form(raw: Any) -> Form:
    """A timebook's stored form (a form never changes once made)."""
    found = plain(raw)
    return Form(
        title=found.get("title", "") or "",
        questions=tuple(
            Question(
                id=q["id"],
                text=q["text"],
                kind=q.get("kind", "yes_no"),
                required=bool(q.get("required", True)),
                options=tuple(q.get("options") or ()),
            )
            for q in found.get("questions") or []
        ),
    )


def timebook(item: TimebookItem) -> Timebook:
    resource = plain(item.resource)
    return Timebook(
        id=item.id,
        name=item.name,
        type=item.type,
        description=item.description or "",
        health_contact=HealthContactRef(item.health_contact_id, item.health_contact_name, item.her_id),
        resource=Resource(name=str(resource.get("name", "")), description=str(resource.get("description") or "")),
        slot_minutes=_int_or_none(item.slot_minutes),
        requires_confirmation=bool(item.requires_confirmation),
        hold_minutes=int(item.hold_minutes),
        cancel_deadline_hours=int(item.cancel_deadline_hours),
        max_active_per_person=int(item.max_active_per_person) if item.max_active_per_person else None,
        waitlist_offer_minutes=int(item.waitlist_offer_minutes or 30),
        form=form(item.form),
        locations=tuple(location(raw) for raw in item.locations or []),
        retention_days=int(item.retention_days or DEFAULT_RETENTION_DAYS),
        waiting_room=waiting_room(item.waiting_room),
        waves=waves(item.waves),
        version=int(item.version or 0),
        priority_lists=bool(item.priority_lists),
        listed_waves=listed_waves(item),
    )


def listed_waves(item: TimebookItem) -> frozenset[str]:
    """The waves with a list; a timebook listed before lists were marked per wave: every wave (a
    PATCH leaving one out then asks, rather than lose a list it cannot see)."""
    if item.listed_waves:
        return frozenset(item.listed_waves)
    return frozenset(w.id for w in waves(item.waves)) if item.priority_lists else frozenset()


def slot(item: SlotItem) -> Slot:
    return Slot(
        slot_id=item.slot_id,
        timebook_id=item.timebook_id,
        location_id=item.location_id,
        start=item.start,
        end=item.end,
        capacity=int(item.capacity),
        closed=bool(item.closed),
        claims=claims(item),
    )


def day_summary(item: DaySummaryItem) -> DaySummary:
    entries = tuple(SlotSummary.from_item(hhmm, entry) for hhmm, entry in sorted(plain(item.slots).items()))
    return DaySummary(
        item.timebook_id, item.location_id, item.date, entries, int(item.refreshed_at or 0), int(item.version or 0)
    )


def claims(item: SlotItem) -> dict[int, Claim]:
    return {int(place): Claim.from_item(claim) for place, claim in plain(item.places).items()}


def person(timebook_id: str, pid: str, item: PersonItem | None) -> Person:
    """The person as read; a missing item is a person with nothing stored yet."""
    if item is None:
        return Person(timebook_id, pid)
    lanes = {int(n): Lane.from_item(lane) for n, lane in plain(item.lanes).items()}
    expires = int(item.hold_expires_at) if item.hold_expires_at is not None else None
    return Person(timebook_id, pid, True, item.hold, expires, lanes)


def answers(stored: Any) -> tuple[Answer, ...]:
    """Stored answers ({question_id, answer}, older ones with the question's text); `question` is
    "" where it was stored without (the use cases name it from the timebook's form)."""
    found = [plain(raw) for raw in stored or []]
    return tuple(Answer(str(a["question_id"]), str(a.get("question") or ""), str(a["answer"])) for a in found)


def appointment_item(appointment: Appointment) -> AppointmentItem:
    """A new appointment as stored: its answers without the question's text (a form never changes,
    and the item stays under 1 KB, one write unit a copy: docs/access-patterns.md)."""
    return AppointmentItem(
        id=appointment.id,
        status=appointment.status,
        version=appointment.version,
        slot_id=appointment.slot_id,
        place=appointment.place,
        lane=appointment.lane,
        timebook={"id": appointment.timebook.id, "name": appointment.timebook.name, "type": appointment.timebook.type},
        health_contact={
            "id": appointment.health_contact.id,
            "name": appointment.health_contact.name,
            "her_id": appointment.health_contact.her_id,
        },
        location=location_item(appointment.location),
        start=appointment.start,
        end=appointment.end,
        duration_minutes=appointment.duration_minutes,
        cancel_deadline_hours=appointment.cancel_deadline_hours,
        for_pid=appointment.for_pid,
        for_name=appointment.for_name,
        booked_by=appointment.booked_by,
        booked_by_name=appointment.booked_by_name,
        answers=[{"question_id": a.question_id, "answer": a.answer} for a in appointment.answers],
        phone=appointment.phone,
        description=appointment.description,
        created_at=appointment.created_at,
        updated_at=appointment.updated_at,
        language=appointment.language,
        sms_to_phone=appointment.sms_to_phone,
    )


def appointment(item: AppointmentItem) -> Appointment:
    tb, contact = plain(item.timebook), plain(item.health_contact)
    return Appointment(
        id=item.id,
        status=item.status,
        version=int(item.version or 0),
        slot_id=item.slot_id,
        place=int(item.place),
        start=item.start,
        end=item.end,
        duration_minutes=int(item.duration_minutes),
        cancel_deadline_hours=int(item.cancel_deadline_hours),
        timebook=TimebookRef(id=str(tb.get("id", "")), name=str(tb.get("name", "")), type=str(tb.get("type", ""))),
        health_contact=HealthContactRef(
            id=str(contact.get("id", "")), name=str(contact.get("name", "")), her_id=str(contact.get("her_id", ""))
        ),
        location=location(item.location),
        for_pid=item.for_pid,
        for_name=item.for_name or "",
        booked_by=item.booked_by,
        booked_by_name=item.booked_by_name or "",
        answers=answers(item.answers),
        phone=item.phone,
        description=item.description or "",
        reason=item.reason,
        created_at=item.created_at,
        updated_at=item.updated_at,
        lane=_int_or_none(item.lane),
        reminded_on=item.reminded_on,
        language=item.language or "nb",
        sms_to_phone=bool(item.sms_to_phone),
    )


def inbox_message(item: InboxMessageItem) -> InboxMessage:
    return InboxMessage(
        id=item.id,
        appointment_id=item.appointment_id,
        kind=item.kind,
        title=item.title,
        body=item.body,
        created_at=item.created_at,
    )


def offer(item: WaitlistEntryItem) -> Offer | None:
    raw = plain(item.offer) if item.offer else {}
    if not raw:
        return None
    return Offer(raw["hold_id"], raw["slot_id"], int(raw["place"]), raw["start"], raw["end"], int(raw["expires_at"]))


def offer_item(offer: Offer) -> dict[str, Any]:
    return {
        "hold_id": offer.hold_id,
        "slot_id": offer.slot_id,
        "place": offer.place,
        "start": offer.start,
        "end": offer.end,
        "expires_at": offer.expires_at,
    }


def entry(item: WaitlistEntryItem) -> Entry:
    return Entry(
        id=item.id,
        timebook_id=item.timebook_id,
        location_id=item.location_id,
        window_from=item.window_from,
        window_to=item.window_to,
        for_pid=item.for_pid,
        owner=item.owner,
        status=item.status,
        version=int(item.version or 0),
        offer=offer(item),
        created_at=item.created_at,
        updated_at=item.updated_at,
        language=item.language or "nb",
    )


def entry_item(entry: Entry) -> WaitlistEntryItem:
    return WaitlistEntryItem(
        id=entry.id,
        timebook_id=entry.timebook_id,
        location_id=entry.location_id,
        window_from=entry.window_from,
        window_to=entry.window_to,
        for_pid=entry.for_pid,
        owner=entry.owner,
        status=entry.status,
        version=entry.version,
        offer=offer_item(entry.offer) if entry.offer else None,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        ttl=entry.ttl,
        language=entry.language,
    )


def waitlist_entry(entry: Entry, status: EntryStatus, position: int | None = None) -> WaitlistEntry:
    """The entry with its effective status (booking/waitlist.py decides it as of now)."""
    return WaitlistEntry(
        id=entry.id,
        timebook_id=entry.timebook_id,
        location_id=entry.location_id,
        window_from=entry.window_from,
        window_to=entry.window_to,
        status=status,
        offer=entry.offer,
        created_at=entry.created_at,
        position=position,
    )


def audit_item(record: AuditRecord) -> AuditItem:
    """An audit record as stored; its sort key is the UTC time, so the log reads in order across DST."""
    return AuditItem(
        keys.audit_log(record.timebook_id),
        keys.audit_sort(record.at_utc, record.id),
        id=record.id,
        at=record.at,
        actor=record.actor,
        actor_role=record.actor_role,
        action=record.action,
        target=record.target,
        detail=record.detail,
    )


def event_item(event: Event) -> EventItem:
    item = EventItem(
        event_id=event.event_id,
        kind=event.kind,
        appointment_id=event.appointment_id,
        created_at=event.created_at,
        payload=event.payload,
        ttl=event.ttl,
    )
    item.pk, item.sk = keys.event(item.event_id)
    item.event = {"k": item.kind}  # what the stream filter and the relay look for
    return item


def idempotency_item(record: IdempotencyRecord) -> IdempotencyItem:
    pk, sk = keys.idempotency(record.owner, record.scope, record.key)
    return IdempotencyItem(pk, sk, request_hash=record.request_hash, result_id=record.result_id, ttl=record.ttl)


def audit_record(item: AuditItem) -> AuditRecord:
    return AuditRecord(
        id=item.id,
        at=item.at,
        actor=item.actor,
        action=item.action,
        target=item.target,
        detail=plain(item.detail),
        actor_role=item.actor_role,
    )


def closure(timebook_id: str, closure_id: str, detail: Mapping[str, Any]) -> Closure:
    """A closure from its record's detail (range, reason, what earlier runs did)."""
    return Closure(
        timebook_id,
        closure_id,
        detail.get("location_id") or None,
        datetime.fromisoformat(detail["from"]),
        datetime.fromisoformat(detail["to"]),
        detail["reason"],
        {k: int(v) for k, v in dict(detail.get("totals") or {}).items()},
    )
