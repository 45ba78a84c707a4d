"""Waitlist offers racing cancels, public holds and bookings, over HTTP with real threads.

Three places of one slot are booked; eight people wait. The three cancel while twelve others try
to hold the slot directly and the waiting people book whatever offer they see. However it
interleaves, no place is given twice: the offers made plus the public holds won never exceed the
three places freed, and the slot ends with at most three live claims.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.factories import make_phone, make_pid
from tests.live import WAIT_SECONDS
from tests.race.test_race_http import _post, _timebook, _token

pytestmark = pytest.mark.race
PLACES = 3
WAITING = 8
PUBLIC = 12


def _citizen(url: str, n: int) -> tuple[str, str]:
    pid = make_pid(n)
    return _token(url, {"sub": pid, "role": "citizen", "name": f"Venter {n}"}), make_phone(n)


def _get(url: str, path: str, token: str) -> requests.Response:
    return requests.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_offers_cancels_holds_and_bookings_racing_never_give_a_place_twice(live_url):
    timebook_id, day, (slot_id,) = _timebook(live_url, "7301", places=(1, PLACES))
    holders = [_citizen(live_url, 7400 + n) for n in range(PLACES)]
    booked = []
    for token, phone in holders:
        made = _post(live_url, "/appointments", {"slot_id": slot_id, "phone": phone, "answers": {}}, token)
        assert made.status_code == 201, made.text
        booked.append(made.json()["id"])
    waiting = [_citizen(live_url, 7500 + n) for n in range(WAITING)]
    for token, _ in waiting:
        joined = _post(live_url, "/waitlist", {"timebook_id": timebook_id}, token)
        assert joined.status_code == 201 and joined.json()["status"] == "waiting", joined.text
    public = [_citizen(live_url, 7600 + n) for n in range(PUBLIC)]

    barrier = threading.Barrier(PLACES + PUBLIC + WAITING)
    stop = time.monotonic() + 20

    def cancel(index: int) -> int:
        barrier.wait()
        return _post(live_url, f"/appointments/{booked[index]}/cancel", {}, holders[index][0]).status_code

    def hold(index: int) -> int:
        """A script that keeps trying the sold-out slot for a while."""
        barrier.wait()
        for _ in range(15):
            status = _post(live_url, "/holds", {"slot_id": slot_id}, public[index][0]).status_code
            if status != 409:
                return status
            time.sleep(0.05)
        return 409

    def book_any_offer(index: int) -> int:
        token, phone = waiting[index]
        barrier.wait()
        while time.monotonic() < stop:
            entry = _get(live_url, "/waitlist", token).json()["items"][0]
            if entry["status"] == "offered":
                body = {"hold_id": entry["offer"]["hold_id"], "phone": phone, "answers": {}}
                return _post(live_url, "/appointments", body, token).status_code
            time.sleep(0.3)
        return 0

    calls: list[Any] = (
        [lambda i=i: cancel(i) for i in range(PLACES)]
        + [lambda i=i: hold(i) for i in range(PUBLIC)]
        + [lambda i=i: book_any_offer(i) for i in range(WAITING)]
    )
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda call: call(), calls))
    cancels, holds, offers_booked = results[:PLACES], results[PLACES : PLACES + PUBLIC], results[PLACES + PUBLIC :]
    assert cancels == [200] * PLACES, cancels
    assert set(holds) <= {201, 409}, holds
    assert set(offers_booked) <= {201, 0}, offers_booked  # an offer seen was always bookable

    statuses = [_get(live_url, "/waitlist", token).json()["items"][0]["status"] for token, _ in waiting]
    offered_or_booked = sum(1 for s in statuses if s in ("offered", "booked"))
    public_holds = holds.count(201)
    assert offered_or_booked + public_holds <= PLACES, (statuses, holds)
    assert statuses.count("booked") == offers_booked.count(201)
    slots = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    free = slots[0]["free"] if slots else 0
    assert offered_or_booked + public_holds + free == PLACES, (statuses, holds, free)
