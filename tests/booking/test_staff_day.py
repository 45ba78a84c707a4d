"""Issue 21's rules, fast: «Møtt» / «Ikke møtt» transitions and their day, the day list's birth date
and CSV, FHIR statuses, and that attendance is for Helsenorge, not the inbox."""

from __future__ import annotations

import csv
import io
from datetime import date

from chalicelib.booking.staff import DayListRow, day_list_csv
from chalicelib.domain.appointments import (
    ALLOWED_FROM,
    ON_THE_DAY,
    RESULT,
    Status,
    Transition,
    attendance_may_be_marked,
)
from chalicelib.domain.identity import birth_date
from chalicelib.fhir.appointment import STATUS
from chalicelib.messaging import consumer
from chalicelib.messaging.publisher import CHANGE_KINDS, NOT_FOR_INBOX
from tests.factories import make_pid


def test_attendance_only_from_booked() -> None:
    for transition, status in ((Transition.ARRIVE, Status.ARRIVED), (Transition.NOSHOW, Status.NOSHOW)):
        assert ALLOWED_FROM[transition] == {Status.BOOKED}
        assert RESULT[transition] == status
        assert status in ON_THE_DAY  # keeps its place on the day's list and in the overview


def test_attendance_only_on_the_day() -> None:
    day = date(2026, 3, 29)  # the spring DST Sunday too
    assert attendance_may_be_marked(day, day)
    assert not attendance_may_be_marked(day, date(2026, 3, 28))
    assert not attendance_may_be_marked(day, date(2026, 3, 30))


def test_fhir_has_its_own_statuses_for_them() -> None:
    assert STATUS["arrived"] == "arrived" and STATUS["noshow"] == "noshow"


def test_attendance_goes_to_helsenorge_not_the_inbox() -> None:
    assert {"arrived", "noshow"} == NOT_FOR_INBOX and not NOT_FOR_INBOX & CHANGE_KINDS
    message = {"kind": "arrived", "event_id": "ap1.0003.arrived", "appointment_id": "ap1", "payload": {}}
    assert consumer.deliver(message) is False  # no inbox text, nothing written, no error


def test_birth_date_from_fodselsnummer_and_d_nummer() -> None:
    pid = make_pid(7)
    born = birth_date(pid)
    assert born[8:10] == pid[0:2] and born[5:7] == pid[2:4]


def test_day_list_csv_is_utf8_with_bom_and_semicolons() -> None:
    rows = [
        DayListRow(
            "ap1",
            "2026-12-07T08:00:00+01:00",
            "2026-12-07T08:15:00+01:00",
            "l1",
            "Åse Ødegård",
            "1950-12-06",
            "arrived",
        ),
        DayListRow(
            "ap2", "2026-12-07T08:15:00+01:00", "2026-12-07T08:30:00+01:00", "l1", "Per; Hansen", "1960-01-02", "noshow"
        ),
    ]
    text = day_list_csv(rows)
    assert text.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert parsed == [
        ["Tid", "Navn", "Fødselsdato", "Status"],
        ["08:00", "Åse Ødegård", "1950-12-06", "Møtt"],
        ["08:15", "Per; Hansen", "1960-01-02", "Ikke møtt"],
    ]
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
