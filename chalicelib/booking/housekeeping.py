"""Scheduled work: tidy expired holds, and remind citizens the day before a booked appointment."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import clock
from chalicelib.booking.events import event_for
from chalicelib.storage import repository


def release_expired_holds() -> int:
    """Every minute. Only tidies: availability already treats an expired hold as free."""
    now = clock.epoch()
    return sum(repository.tidy_slot(slot, now) for slot in repository.slots_with_expired_holds(now))


def send_reminders() -> int:
    """Daily: one «reminder» inbox message for each booked appointment of tomorrow (Oslo date)."""
    tomorrow = (clock.local(clock.now()) + timedelta(days=1)).date()
    sent = 0
    for contact in repository.list_health_contacts():
        for timebook in repository.list_timebooks(contact.id):
            for item in repository.appointments_of_timebook(timebook.id, day=tomorrow, status="booked"):
                if item.reminded_on == tomorrow.isoformat():
                    continue
                sent += repository.mark_reminded(item, tomorrow.isoformat(), event_for(item, "reminder"))
    return sent
