"""The audit log of staff changes: who (the staff member's id), when, what (ids and numbers only).

A record never carries a citizen's identity number, name, phone, answers or a free-text reason
(which may name someone): only the kind of change, the id of what changed and counts or settings.
Slot edits, closures and staff actions on appointments write their record in the same transaction
as the change; set-up writes (timebook, location, schedule) write it right after. Each record
says the actor's role: after retention a staff member's id stays (who did what), anyone else's
goes (domain/retention.py).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from chalicelib import clock
from chalicelib.booking.common import iso, new_id, require_staff_of, timebook_missing
from chalicelib.booking.common import timebook as get_timebook
from chalicelib.domain.model import AuditRecord
from chalicelib.domain.paging import PageRequest, Position, continue_after, sort_key_after
from chalicelib.domain.people import Principal
from chalicelib.storage import staffwork


def record(principal: Principal, timebook_id: str, action: str, target: str, **detail: Any) -> AuditRecord:
    """A record to write with the change it describes."""
    now = clock.now()
    at_utc = now.astimezone(UTC).isoformat(timespec="milliseconds")
    return AuditRecord(
        new_id("au"), iso(now), principal.sub, action, target, detail, timebook_id, at_utc, principal.role
    )


def write(principal: Principal, timebook_id: str, action: str, target: str, **detail: Any) -> None:
    staffwork.add_audit(record(principal, timebook_id, action, target, **detail))


def log(principal: Principal, timebook_id: str, page: PageRequest) -> tuple[list[AuditRecord], Position | None]:
    """GET /admin/timebooks/{id}/audit: staff of the timebook's health contact, newest first."""
    tb = get_timebook(timebook_id)
    require_staff_of(principal, tb.her_id, timebook_missing())
    found, last = staffwork.audit_log(tb.id, page.limit, sort_key_after(page))
    return found, continue_after(last)
