"""GET /me/data: the citizen's own copy (GDPR art. 15) of everything stored about them and the
people they represent: appointments with answers, waitlist entries, inbox messages and the audit
records about their appointments. Read a page at a time through the same seams as the lists, and
bounded: past MAX_ITEMS of one kind the answer says it is not complete."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from chalicelib import clock
from chalicelib.booking import appointments, waitlist
from chalicelib.booking.common import require_citizen
from chalicelib.booking.queue import Listing, listings_of
from chalicelib.domain.model import Appointment, AuditRecord, InboxMessage, WaitlistEntry
from chalicelib.domain.paging import PageRequest, Position
from chalicelib.domain.people import Principal
from chalicelib.storage import retention as stored

PAGE = 200
MAX_ITEMS = 2000  # of each kind; far more than any one person has

T = TypeVar("T")


@dataclass(frozen=True)
class MyData:
    generated_at: datetime
    people: tuple[tuple[str, str, bool], ...]  # pid, name, is the caller
    appointments: list[Appointment]
    waitlist: list[WaitlistEntry]
    inbox: list[InboxMessage]
    audit: list[AuditRecord]
    complete: bool
    priority_lists: list[Listing] = field(default_factory=list)  # waves whose lists name them


def _all(read: Callable[[PageRequest], tuple[list[T], Position | None]]) -> tuple[list[T], bool]:
    found: list[T] = []
    position: Position | None = Position()
    while position is not None and len(found) < MAX_ITEMS:
        page, position = read(PageRequest(PAGE, position))
        found.extend(page)
    return found[:MAX_ITEMS], position is None


def my_data(principal: Principal) -> MyData:
    require_citizen(principal)
    mine, all_appointments = _all(lambda page: appointments.mine_page(principal, page))
    entries, all_entries = _all(lambda page: waitlist.mine(principal, page))
    messages, all_messages = _all(lambda page: appointments.inbox_page(principal, page))
    by_timebook: dict[str, list[str]] = defaultdict(list)
    for appointment in mine:
        by_timebook[appointment.timebook.id].append(appointment.id)
    audit: list[AuditRecord] = []
    all_audit = True
    for tb, ids in by_timebook.items():
        records, complete = stored.audit_about(tb, ids, MAX_ITEMS)
        audit.extend(records)
        all_audit = all_audit and complete
    people = (
        (principal.sub, principal.name, True),
        *((pid, name, False) for pid, name in principal.represents.items()),
    )
    return MyData(
        generated_at=clock.now(),
        people=people,
        appointments=mine,
        waitlist=entries,
        inbox=messages,
        audit=sorted(audit, key=lambda r: r.at, reverse=True),
        complete=all_appointments and all_entries and all_messages and all_audit,
        priority_lists=listings_of([pid for pid, _, _ in people]),
    )
