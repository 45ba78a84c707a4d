"""Small helpers the use cases share: ids, timestamps, looking things up or failing with 404."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

from chalicelib import clock
from chalicelib.domain.forms import Form
from chalicelib.domain.model import Appointment, HealthContact, Location, Timebook
from chalicelib.domain.people import Principal
from chalicelib.errors import Conflict, Forbidden, NotFound
from chalicelib.memo import Memo
from chalicelib.storage import repository

# Timebooks change rarely and are read by every hold and booking: a short in-process cache
# spares DynamoDB a read per request in a surge. Writes in this process invalidate it.
_TIMEBOOK_TTL_SECONDS = 30.0
_timebooks: Memo[str, Timebook] = Memo(lambda: _TIMEBOOK_TTL_SECONDS)


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(6)}"


def iso(moment: datetime) -> str:
    """ISO 8601 with offset, in Europe/Oslo."""
    return clock.local(moment).isoformat(timespec="seconds")


def timebook(timebook_id: str, *, fresh: bool = False) -> Timebook:
    """Through the cache; `fresh` (staff about to change it) reads it now, whoever reads too."""
    if not fresh:
        return _timebooks.get(timebook_id, lambda: _read_timebook(timebook_id))
    found = _read_timebook(timebook_id)
    _timebooks.put(timebook_id, found)
    return found


def _read_timebook(timebook_id: str) -> Timebook:
    found = repository.get_timebook(timebook_id)
    if found is None:
        raise timebook_missing()
    return found


def timebook_missing() -> NotFound:
    return NotFound("No such timebook.", code="timebook_not_found")


def forget_timebook(timebook_id: str) -> None:
    _timebooks.forget(timebook_id)


_contacts: Memo[str, HealthContact] = Memo(lambda: _TIMEBOOK_TTL_SECONDS)


def _read_contact(hc_id: str) -> HealthContact:
    found = repository.get_health_contact(hc_id)
    if found is None:
        raise timebook_missing()
    return found


def require_bookable(tb: Timebook) -> None:
    """Only a health contact with «Timebestilling» switched on takes holds and bookings (its
    processes are read through a short in-process cache, like the timebook)."""
    contact = _contacts.get(tb.health_contact.id, lambda: _read_contact(tb.health_contact.id))
    if "timebestilling" not in (contact.processes or []):
        raise Conflict("This health contact does not take bookings online.", code="booking_not_offered")


def people_for_tag(principal: Principal, tag: str) -> list[str]:
    """Whom of the people the caller acts for a hold id's tag can name (almost always one)."""
    from chalicelib.domain.holds import person_tag

    return [pid for pid in principal.people() if person_tag(pid) == tag]


def health_contact(hc_id: str) -> HealthContact:
    item = repository.get_health_contact(hc_id)
    if item is None:
        raise health_contact_missing()
    return item


def health_contact_missing() -> NotFound:
    return NotFound("No such health contact.", code="health_contact_not_found")


def location_of(tb: Timebook, location_id: str) -> Location:
    found = tb.location(location_id)
    if found is not None:
        return found
    raise NotFound("No such location for this timebook.", code="location_not_found")


def form_of(tb: Timebook) -> Form:
    return tb.form


def require_staff_of(principal: Principal, her_id: str, missing: NotFound | None = None) -> None:
    """Staff act only for their own health contacts; to others the thing does not exist, with
    the very answer an unknown id gets (`missing`), so existence is not revealed."""
    if not principal.is_staff:
        raise Forbidden("Only staff may do this.", code="staff_only")
    if not principal.administers(her_id):
        raise missing or NotFound("Not found.", code="not_found")


def require_citizen(principal: Principal) -> None:
    if not principal.is_citizen:
        raise Forbidden("Only citizens may do this.", code="citizen_only")


def appointment_of(appointment: Appointment) -> Appointment:
    """The appointment a use case hands out, its answers named from its timebook's form (read
    only for answers stored without their question's text, through the timebook cache)."""
    if all(answer.question for answer in appointment.answers):
        return appointment
    try:
        texts = {q.id: q.text for q in form_of(timebook(appointment.timebook.id)).questions}
    except NotFound:
        texts = {}
    named = tuple(
        a if a.question else replace(a, question=texts.get(a.question_id, a.question_id)) for a in appointment.answers
    )
    return replace(appointment, answers=named)
