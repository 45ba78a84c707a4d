"""GET /me/data: the citizen's own copy of what is stored about them (issue 23)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.http.schemas.citizen import AppointmentOut, InboxMessageOut
from chalicelib.http.schemas.common import Out
from chalicelib.http.schemas.waitlist import WaitlistEntryOut


class DataSubjectOut(Out):
    pid: str
    name: str
    relation: Literal["self", "represented"]


class MyAuditOut(Out):
    """What staff did with one of their appointments, and when (not which staff member)."""

    at: str
    action: str
    appointment_id: str


class MyListingOut(Out):
    """A wave's priority list names this person: they may book from `opens_at` (issue 20)."""

    pid: str
    timebook_id: str
    timebook_name: str
    wave: int
    opens_at: str


class MyDataOut(Out):
    generated_at: str
    people: list[DataSubjectOut]
    appointments: list[AppointmentOut]
    waitlist: list[WaitlistEntryOut]
    inbox: list[InboxMessageOut]
    audit: list[MyAuditOut]
    complete: bool  # false: more than one answer holds; the rest is there, ask the municipality
    priority_lists: list[MyListingOut] = Field(default_factory=list)
