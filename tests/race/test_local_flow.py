"""Against the `make run` stack: book, confirm as staff, the inbox within 10 s, .ics, cancel, place free."""

from __future__ import annotations

import time

import requests
from icalendar import Calendar

from tests.factories import make_phone, make_pid
from tests.live import WAIT_SECONDS
from tests.race.test_race_http import _post, _requested_appointment, _token


def test_confirmation_reaches_the_inbox_and_cancel_frees_the_place(live_url):
    appointment_id, staff, citizen, timebook_id = _requested_appointment(live_url, "7201")
    auth = {"Authorization": f"Bearer {citizen}"}
    confirmed = _post(live_url, f"/admin/appointments/{appointment_id}/confirm", {}, staff)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "booked"
    deadline = time.monotonic() + WAIT_SECONDS
    kinds: list[str] = []
    while time.monotonic() < deadline:
        inbox = requests.get(f"{live_url}/inbox", headers=auth, timeout=WAIT_SECONDS).json()["items"]
        kinds = [m["kind"] for m in inbox if m["appointment_id"] == appointment_id]
        if "confirmed" in kinds:
            break
        time.sleep(0.3)
    assert sorted(kinds) == ["confirmed", "requested"], kinds
    confirmed_message = next(m for m in inbox if m["kind"] == "confirmed")
    assert "Din timereservasjon er bekreftet." in confirmed_message["body"]

    ics = requests.get(f"{live_url}/appointments/{appointment_id}/ics", headers=auth, timeout=WAIT_SECONDS)
    assert ics.status_code == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    event = Calendar.from_ical(ics.text).walk("VEVENT")[0]
    assert event["STATUS"] == "CONFIRMED"

    day = confirmed.json()["start"][:10]
    slots_url = f"{live_url}/timebooks/{timebook_id}/slots?date={day}"
    assert requests.get(slots_url, timeout=WAIT_SECONDS).json()["items"] == []  # capacity 1, taken
    cancelled = _post(live_url, f"/appointments/{appointment_id}/cancel", {}, citizen)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert [s["free"] for s in requests.get(slots_url, timeout=WAIT_SECONDS).json()["items"]] == [1]
    other = _token(live_url, {"sub": make_pid(8700), "role": "citizen", "name": "Neste"})
    slot_id = requests.get(slots_url, timeout=WAIT_SECONDS).json()["items"][0]["id"]
    again = _post(live_url, "/appointments", {"slot_id": slot_id, "phone": make_phone(8), "answers": {}}, other)
    assert again.status_code == 201
