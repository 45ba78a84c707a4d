"""Scheduled work: tidy expired holds, and remind citizens the day before a booked appointment."""

from __future__ import annotations

import logging
from datetime import timedelta

from chalicelib import clock
from chalicelib.booking import closures, queue, waitlist
from chalicelib.booking.common import iso
from chalicelib.booking.events import change_event
from chalicelib.storage import repository

logger = logging.getLogger("timebok.housekeeping")


def release_expired_holds() -> int:
    """Every minute. Only tidies: availability already treats an expired hold as free. Then the
    waitlist is offered the places that lapsed holds and offers freed, and closures a request left
    unfinished are finished (booking/waitlist.py, booking/closures.py), and so are the walks that
    stamp priority lists again after a change of their lifetime."""
    now = clock.epoch()
    tidied = repository.tidy_expired_holds(now)
    # Independent parts: one that fails (a throttled table, a bad record) must not keep the others
    # from their turn; the first failure is raised after all ran, so the run still fails (alarm).
    failures: list[Exception] = []
    for part in (
        waitlist.sweep,
        closures.finish_unfinished,
        queue.restamp_unfinished,  # priority lists a settings change left to stamp (booking/queue.py)
    ):
        try:
            part()
        except Exception as error:
            logger.exception("every-minute schedule: %s failed; the other parts still ran", part.__qualname__)
            failures.append(error)
    if failures:
        raise failures[0]
    return tidied


def send_reminders() -> int:
    """Daily: one «reminder» inbox message for each booked appointment of tomorrow (Oslo date)."""
    tomorrow = (clock.local(clock.now()) + timedelta(days=1)).date()
    sent = 0
    for contact in repository.list_health_contacts():
        for timebook in repository.list_timebooks(contact.id):
            for item in repository.appointments_of_timebook(timebook.id, day=tomorrow, status="booked"):
                if item.reminded_on == tomorrow.isoformat():
                    continue
                # A reminder changes no version: its event carries its own time (`t`).
                event = change_event("reminder", t=iso(clock.now()))
                sent += repository.mark_reminded(item.id, tomorrow.isoformat(), event)
    return sent
