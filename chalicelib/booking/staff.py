"""The municipality's views: appointments by timebook, and «Ressursoversikt» (who is booked when)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from chalicelib import clock
from chalicelib.booking.common import appointment_of, location_of, require_staff_of, timebook_missing
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain.appointments import Status
from chalicelib.domain.capacity import count
from chalicelib.domain.model import Appointment, Slot
from chalicelib.domain.ordering import by_instant
from chalicelib.domain.paging import PageRequest, Position
from chalicelib.domain.people import Principal
from chalicelib.errors import InvalidInput
from chalicelib.storage import repository

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
