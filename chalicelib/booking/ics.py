"""«Legg i egen kalender»: the appointment as iCalendar, made with the icalendar library.

The UID is stable, SEQUENCE grows with every change (the appointment's version), and a
cancelled or rejected appointment is sent as METHOD:CANCEL with STATUS:CANCELLED so calendar
programs remove it. Times are in Europe/Oslo with its VTIMEZONE.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib import clock
from chalicelib.domain.model import Appointment

_STATUS = {"requested": "TENTATIVE", "booked": "CONFIRMED", "rejected": "CANCELLED", "cancelled": "CANCELLED"}


def appointment_ics(item: Appointment) -> str:
    from icalendar import Calendar, Event  # heavy: only for this route

    location = item.location
    cancelled = item.status in ("cancelled", "rejected")
    calendar = Calendar()
    calendar.add("prodid", "-//Timebok//Timeavtaler//NO")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", f"{item.id}@timebok")
    event.add("sequence", item.version)
    event.add("dtstamp", clock.now())
    event.add("dtstart", datetime.fromisoformat(item.start).astimezone(clock.OSLO))
    event.add("dtend", datetime.fromisoformat(item.end).astimezone(clock.OSLO))
    event.add("summary", f"Time til {item.timebook.name.lower()} hos {item.health_contact.name}")
    where = ", ".join(part for part in (location.name, location.address) if part)
    if location.directions:
        where += f" ({location.directions})"
    event.add("location", where)
    event.add("description", f"Status: {item.status}. Antatt varighet: {item.duration_minutes} min.")
    event.add("status", _STATUS.get(item.status, "TENTATIVE"))
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()
