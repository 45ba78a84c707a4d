"""The municipality's views: appointments by timebook, «Ressursoversikt» (who is booked when), the
requests waiting across a staff member's timebooks, the station's day list, and bulk confirm."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from chalicelib import clock
from chalicelib.booking import lifecycle
from chalicelib.booking.common import appointment_of, location_of, require_staff_of, timebook_missing
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain.appointments import ON_THE_DAY, Status
from chalicelib.domain.capacity import count
from chalicelib.domain.identity import birth_date
from chalicelib.domain.model import Appointment, Slot
from chalicelib.domain.ordering import by_instant
from chalicelib.domain.paging import PageRequest, Position
from chalicelib.domain.people import Principal
from chalicelib.errors import Forbidden, InvalidInput, TimebokError
from chalicelib.storage import repository
from chalicelib.storage import waitlist as waitlist_storage

STATUSES = {s.value for s in Status}


def appointments(
    principal: Principal, timebook_id: str | None, status: str | None, day: date | None, page: PageRequest | None = None
) -> tuple[list[Appointment], Position | None]:
    """One page of a timebook's appointments, by start (all of them without a page)."""
    if not timebook_id:
        raise InvalidInput("timebook_id is required.", fields=[("timebook_id", "is required")])
    if status and status not in STATUSES:
        raise InvalidInput("Unknown status.", fields=[("status", f"must be one of {sorted(STATUSES)}")])
    tb = get_timebook(timebook_id)
    require_staff_of(principal, tb.her_id, timebook_missing())
    if page is None:
        found, after = repository.appointments_of_timebook(tb.id, day=day, status=status), None
    else:
        found, after = repository.appointments_of_timebook_page(tb.id, page, day=day, status=status)
    return [appointment_of(item) for item in found], after


@dataclass(frozen=True)
class OverviewRow:
    slot: Slot
    booked: int
    held: int
    appointments: list[Appointment]


def overview(principal: Principal, timebook_id: str, day: date, location_id: str | None) -> list[OverviewRow]:
    """One row per slot of the day: capacity, booked, held (live holds only), and who."""
    tb = get_timebook(timebook_id)
    require_staff_of(principal, tb.her_id, timebook_missing())
    if location_id:
        location_of(tb, location_id)
    by_slot: dict[str, list[Appointment]] = defaultdict(list)
    for item in repository.appointments_of_timebook(tb.id, day=day):
        by_slot[item.slot_id].append(item)
    now = clock.epoch()
    rows = []
    for slot in repository.query_slots(tb.id, f"{day:%Y-%m}", day=day):
        if location_id and slot.location_id != location_id:
            continue
        rows.append(
            OverviewRow(
                slot=slot,
                # Both counts from the one slot item read (never 11 of 10 mid-race); the names from the index.
                booked=count(slot.claims, "appointment", now),
                held=count(slot.claims, "hold", now),
                appointments=[appointment_of(a) for a in sorted(by_slot[slot.slot_id], key=lambda a: a.created_at)],
            )
        )
    return sorted(rows, key=lambda r: by_instant(r.slot.start, r.slot.location_id))


# Requests shown at once across timebooks; the oldest first, so the longest waiting are seen.
MAX_REQUESTS = 200


def requests(principal: Principal) -> list[Appointment]:
    """Requests (`requested`) in every timebook of the staff member's health contacts, oldest first."""
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.", code="staff_only")
    found: list[Appointment] = []
    for contact in repository.list_health_contacts():
        if not principal.administers(contact.her_id):
            continue
        for tb in repository.list_timebooks(contact.id):
            found.extend(repository.appointments_of_timebook(tb.id, status=Status.REQUESTED.value))
    found.sort(key=lambda a: (a.created_at, a.id))
    return [appointment_of(a) for a in found[:MAX_REQUESTS]]


@dataclass(frozen=True)
class DayListRow:
    appointment_id: str
    start: str
    end: str
    location_id: str
    name: str
    birth_date: str
    status: str


def day_list(principal: Principal, timebook_id: str, day: date, location_id: str | None) -> list[DayListRow]:
    """The station's list for a day: who comes when (booked, arrived, not arrived, cancelled), by time."""
    tb = get_timebook(timebook_id)
    require_staff_of(principal, tb.her_id, timebook_missing())
    if location_id:
        location_of(tb, location_id)
    shown = {s.value for s in ON_THE_DAY - {Status.REQUESTED}} | {Status.CANCELLED.value}
    rows = [
        DayListRow(
            appointment_id=a.id,
            start=a.start,
            end=a.end,
            location_id=a.location.id,
            name=a.for_name,
            birth_date=birth_date(a.for_pid),
            status=a.status,
        )
        for a in repository.appointments_of_timebook(tb.id, day=day)
        if a.status in shown and (not location_id or a.location.id == location_id)
    ]
    return sorted(rows, key=lambda r: (r.start, r.name, r.appointment_id))


DAY_LIST_COLUMNS = ("Tid", "Navn", "Fødselsdato", "Status")
STATUS_NB = {"booked": "Tildelt", "arrived": "Møtt", "noshow": "Ikke møtt", "cancelled": "Avlyst"}


def day_list_csv(rows: list[DayListRow]) -> str:
    """The day list as CSV in UTF-8 with BOM (Excel then reads æøå), `;`-separated as Norwegian
    Excel expects."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(DAY_LIST_COLUMNS)
    for row in rows:
        writer.writerow((row.start[11:16], row.name, row.birth_date, STATUS_NB.get(row.status, row.status)))
    return "\ufeff" + out.getvalue()


@dataclass(frozen=True)
class BulkResult:
    id: str
    appointment: Appointment | None = None
    error: TimebokError | None = None


def confirm_many(principal: Principal, ids: list[str]) -> list[BulkResult]:
    """Bulk «Tildelt»: each id confirmed on its own (one transaction, one inbox message each); a
    failure is that id's result, not the whole call's. A repeated id is answered once."""
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.", code="staff_only")
    results = []
    for appointment_id in dict.fromkeys(ids):
        try:
            results.append(BulkResult(appointment_id, appointment=lifecycle.confirm(principal, appointment_id)))
        except TimebokError as error:
            results.append(BulkResult(appointment_id, error=error))
    return results


@dataclass(frozen=True)
class WaitingRow:
    position: int
    entry_id: str
    status: str
    location_id: str | None
    window_from: str | None
    window_to: str | None
    person: str  # the identity number masked: birth date digits and five dots
    birth_date: str
    created_at: str
    offer_start: str | None
    offer_end: str | None
    offer_expires_at: str | None


def waiting(principal: Principal, timebook_id: str, limit: int = 200) -> list[WaitingRow]:
    """Who waits in a timebook, first come first, and the open offers with when they run out. The
    identity number is never shown whole (staff see the birth date digits)."""
    tb = get_timebook(timebook_id)
    require_staff_of(principal, tb.her_id, timebook_missing())
    now = clock.now()
    rows = []
    for entry in waitlist_storage.queue(tb.id, limit=limit):
        status = entry.status_at(now).value
        if status not in ("waiting", "offered"):
            continue
        offer = entry.offer if status == "offered" else None
        expires = clock.local(datetime.fromtimestamp(offer.expires_at, UTC)).isoformat() if offer else None
        rows.append(
            WaitingRow(
                position=len(rows) + 1,
                entry_id=entry.id,
                status=status,
                location_id=entry.location_id,
                window_from=entry.window_from,
                window_to=entry.window_to,
                person=f"{entry.for_pid[:6]} •••••",
                birth_date=birth_date(entry.for_pid),
                created_at=entry.created_at,
                offer_start=offer.start if offer else None,
                offer_end=offer.end if offer else None,
                offer_expires_at=expires,
            )
        )
    return rows
