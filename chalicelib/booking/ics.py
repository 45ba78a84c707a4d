"""«Legg i egen kalender»: the appointment as iCalendar, made with the icalendar library.

The UID is stable, SEQUENCE grows with every change (the appointment's version), and a
cancelled or rejected appointment is sent as METHOD:CANCEL with STATUS:CANCELLED so calendar
programs remove it. Times are in Europe/Oslo with its VTIMEZONE. The words (summary, description,
the reminder's alarm) are in the appointment's language, from its text catalogue (chalicelib/i18n/).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib import clock, i18n
from chalicelib.domain.model import Appointment

_STATUS = {"requested": "TENTATIVE", "booked": "CONFIRMED", "rejected": "CANCELLED", "cancelled": "CANCELLED"}
ALARM_BEFORE = timedelta(hours=1)  # the calendar's own reminder; the inbox reminds the day before


def appointment_ics(item: Appointment) -> str:
    from icalendar import Alarm, Calendar, Event  # heavy: only for this route

    language = i18n.known(item.language)

    def words(key: str, **values: object) -> str:
        return i18n.text(language, key, **values)

    location = item.location
    cancelled = item.status in ("cancelled", "rejected")
    start = datetime.fromisoformat(item.start).astimezone(clock.OSLO)
    calendar = Calendar()
    calendar.add("prodid", "-//Timebok//Timeavtaler//NO")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", f"{item.id}@timebok")
    event.add("sequence", item.version)
    event.add("dtstamp", clock.now())
    event.add("dtstart", start)
    event.add("dtend", datetime.fromisoformat(item.end).astimezone(clock.OSLO))
    summary = words("ics.summary", timebook=i18n.in_sentence(item.timebook.name), contact=item.health_contact.name)
    event.add("summary", summary)
    where = ", ".join(part for part in (location.name, location.address) if part)
    if location.directions:
        where += f" ({location.directions})"
    event.add("location", where)
    status = i18n.catalogue(language).get(f"status.{item.status}", item.status)  # the portal's words
    lines = [
        words("ics.status", status=status),
        words("ics.when", when=i18n.format_day_and_time(start, language)),
        words("ics.duration", minutes=item.duration_minutes),
    ]
    if not cancelled and item.cancel_deadline_hours:
        lines.append(words("ics.deadline", hours=item.cancel_deadline_hours))
    event.add("description", "\n".join(lines))
    event.add("status", _STATUS.get(item.status, "TENTATIVE"))
    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -ALARM_BEFORE)
        alarm.add("description", words("ics.alarm", summary=summary))
        event.add_component(alarm)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()
