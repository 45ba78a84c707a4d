"""Public discovery and availability (steps 1-4): what can be booked, and where there is room.

Availability counts free places by the capacity rule at the time of the request, so an expired
hold is free here before any sweep has run.
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from chalicelib import clock
from chalicelib.booking.common import health_contact, location_of
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain.capacity import free_places
from chalicelib.errors import InvalidInput
from chalicelib.storage import repository
from chalicelib.storage.models import HealthContactItem, SlotItem, TimebookItem

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
# Dates a timebook can sensibly have; outside them date arithmetic would overflow.
MIN_YEAR, MAX_YEAR = 2000, 2100
FIRST_PAGE = 100  # slots per read for "first available": ~3 RCU a page, a sold-out month in ~5 reads


def health_contacts() -> list[HealthContactItem]:
    """Step 1: those that switched on «Timebestilling» (it makes the «Bestill time» button)."""
    return [hc for hc in repository.list_health_contacts() if "timebestilling" in (hc.processes or [])]


def timebooks(hc_id: str) -> list[TimebookItem]:
    health_contact(hc_id)
    return repository.list_timebooks(hc_id)


def timebook(timebook_id: str) -> TimebookItem:
    return get_timebook(timebook_id)


@dataclass(frozen=True)
class Availability:
    slot: SlotItem
    free: list[int]  # free place numbers


def _available(slots: Iterator[SlotItem], location_id: str | None, now: datetime) -> Iterator[Availability]:
    now_epoch = clock.epoch(now)
    for slot in slots:
        if location_id and slot.location_id != location_id:
            continue
        if datetime.fromisoformat(slot.start) <= now:
            continue  # a time that has begun cannot be booked
        free = free_places(int(slot.capacity), repository.claims_of(slot), now_epoch, bool(slot.closed))
        yield Availability(slot, free)


def parse_month(month: str | None) -> str:
    if not month or not _MONTH.fullmatch(month) or not MIN_YEAR <= int(month[:4]) <= MAX_YEAR:
        raise InvalidInput("month must be YYYY-MM.", fields=[("month", f"must be YYYY-MM, {MIN_YEAR}-{MAX_YEAR}")])
    return month


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: str | None, field: str = "date") -> date:
    """Exactly YYYY-MM-DD (date.fromisoformat alone also takes 20240105 and 2024-W02-1)."""
    try:
        day = date.fromisoformat(value) if value and _DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None or not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidInput(f"{field} must be YYYY-MM-DD.", fields=[(field, "must be YYYY-MM-DD")])
    return day


def month_calendar(timebook_id: str, month: str, location_id: str | None) -> list[tuple[date, int]]:
    """Step 3: free places per day of the month (0 where nothing is free)."""
    tb = get_timebook(timebook_id)
    if location_id:
        location_of(tb, location_id)
    year, number = (int(part) for part in month.split("-"))
    free_by_day = {date(year, number, day): 0 for day in range(1, _calendar.monthrange(year, number)[1] + 1)}
    for availability in _available(repository.query_slots(tb.id, month), location_id, clock.now()):
        day = datetime.fromisoformat(availability.slot.start).date()
        free_by_day[day] += len(availability.free)
    return sorted(free_by_day.items())


def free_slots(timebook_id: str, day: date, location_id: str | None) -> list[Availability]:
    """Step 4: the bookable slots of one day (at least one free place), by start."""
    tb = get_timebook(timebook_id)
    if location_id:
        location_of(tb, location_id)
    slots = repository.query_slots(tb.id, f"{day:%Y-%m}", day=day)
    found = [a for a in _available(slots, location_id, clock.now()) if a.free]
    return sorted(found, key=lambda a: (a.slot.start, a.slot.location_id))


def first_free(timebook_id: str, location_id: str | None, from_day: date, months: int = 3) -> Iterator[Availability]:
    """Free slots from a day on, earliest first, month by month (for "first available")."""
    tb = get_timebook(timebook_id)
    if location_id:
        location_of(tb, location_id)
    year, number = from_day.year, from_day.month
    for index in range(months):
        month = f"{year + (number - 1 + index) // 12:04d}-{(number - 1 + index) % 12 + 1:02d}"
        slots = repository.query_slots(tb.id, month, from_day=from_day if index == 0 else None, page_size=FIRST_PAGE)
        yield from (a for a in _available(slots, location_id, clock.now()) if a.free)
