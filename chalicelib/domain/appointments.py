"""Appointment states and the transitions between them.

requested --confirm--> booked
requested --reject---> rejected
requested|booked --cancel--> cancelled
requested|booked --reschedule--> (same state, other slot)
booked --arrive--> arrived      (on the appointment's own day only: «Møtt»)
booked --noshow--> noshow       (on the appointment's own day only: «Ikke møtt»)

Every transition is written as a conditional write on the current state, so two staff
confirming at once, or a cancel racing a confirm, end in exactly one well-defined state.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    REQUESTED = "requested"
    BOOKED = "booked"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ARRIVED = "arrived"  # FHIR's own: the person came
    NOSHOW = "noshow"  # FHIR's own: the person did not come


# «Avbestill time» up to this many hours before, unless the timebook says otherwise.
DEFAULT_CANCEL_DEADLINE_HOURS = 24

ACTIVE = frozenset({Status.REQUESTED, Status.BOOKED})
# Still on the day's list with its place: active, or met (or missed) on the day.
ON_THE_DAY = ACTIVE | {Status.ARRIVED, Status.NOSHOW}


class Transition(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    ARRIVE = "arrive"
    NOSHOW = "noshow"


ALLOWED_FROM: dict[Transition, frozenset[Status]] = {
    Transition.CONFIRM: frozenset({Status.REQUESTED}),
    Transition.REJECT: frozenset({Status.REQUESTED}),
    Transition.CANCEL: ACTIVE,
    Transition.RESCHEDULE: ACTIVE,
    Transition.ARRIVE: frozenset({Status.BOOKED}),
    Transition.NOSHOW: frozenset({Status.BOOKED}),
}

RESULT: dict[Transition, Status | None] = {
    Transition.CONFIRM: Status.BOOKED,
    Transition.REJECT: Status.REJECTED,
    Transition.CANCEL: Status.CANCELLED,
    Transition.RESCHEDULE: None,  # keeps its state
    Transition.ARRIVE: Status.ARRIVED,
    Transition.NOSHOW: Status.NOSHOW,
}

ATTENDANCE = frozenset({Transition.ARRIVE, Transition.NOSHOW})


def initial_status(requires_confirmation: bool) -> Status:
    """«Bestillingen er kun en forespørsel» unless the timebook confirms at once."""
    return Status.REQUESTED if requires_confirmation else Status.BOOKED


def rescheduled_status(current: Status, requires_confirmation: bool) -> Status:
    """A citizen's move of a confirmed appointment is a request again where staff confirm times:
    they confirmed the old time, not the new one."""
    if requires_confirmation and current == Status.BOOKED:
        return Status.REQUESTED
    return current


def frees_place(transition: Transition) -> bool:
    return transition in (Transition.REJECT, Transition.CANCEL)


def cancel_deadline(start: datetime, cancel_deadline_hours: int) -> datetime:
    return start - timedelta(hours=cancel_deadline_hours)


def citizen_may_cancel(start: datetime, cancel_deadline_hours: int, now: datetime) -> bool:
    return now < cancel_deadline(start, cancel_deadline_hours)


def attendance_may_be_marked(start_day: date, today: date) -> bool:
    """«Møtt» / «Ikke møtt» only on the appointment's own (local) day: not before, not after."""
    return start_day == today
