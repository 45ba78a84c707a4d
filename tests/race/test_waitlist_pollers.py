"""Issue 18: a polling script must not beat the waitlist (over HTTP, real threads, the atomic stand-in).

Two sold-out slots of four places. Six people wait for slot A only. While three appointments in
each slot are cancelled and staff raise A's capacity by one, fourteen scripts hammer POST /holds
on both slots. Every place freed in A (four) reaches a waiting person; the scripts win places
only in B, where nobody waits; no place is given twice.
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
from tests.race.test_race_http import _post, _staff, _timebook, _token

pytestmark = pytest.mark.race
CAPACITY = 4
CANCELLED = 3  # in each slot
WAITING = 6
POLLERS = 14
HER_ID = "7701"


def _citizen(url: str, n: int) -> tuple[str, str]:
    return _token(url, {"sub": make_pid(n), "role": "citizen", "name": f"Person {n}"}), make_phone(n)


def _get(url: str, path: str, token: str) -> requests.Response:
    return requests.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _entry(url: str, token: str) -> dict[str, Any]:
    return _get(url, "/waitlist", token).json()["items"][0]


def test_polling_scripts_never_beat_the_waitlist(live_url):
    timebook_id, day, (slot_a, slot_b) = _timebook(live_url, HER_ID, places=(2, CAPACITY))
    staff = _staff(live_url, HER_ID)
    listed = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    a_start, a_end = next((s["start"], s["end"]) for s in listed if s["id"] == slot_a)
    booked: dict[str, list[tuple[str, str]]] = {slot_a: [], slot_b: []}
    for n, slot_id in enumerate([slot_a] * CAPACITY + [slot_b] * CAPACITY):
        token, phone = _citizen(live_url, 7800 + n)
        made = _post(live_url, "/appointments", {"slot_id": slot_id, "phone": phone, "answers": {}}, token)
        assert made.status_code == 201, made.text
        booked[slot_id].append((made.json()["id"], token))
    waiting = [_citizen(live_url, 7900 + n)[0] for n in range(WAITING)]
    for token in waiting:
        joined = _post(live_url, "/waitlist", {"timebook_id": timebook_id, "from": a_start, "to": a_end}, token)
        assert joined.status_code == 201 and joined.json()["status"] == "waiting", joined.text
    pollers = [_citizen(live_url, 8100 + n)[0] for n in range(POLLERS)]

    barrier = threading.Barrier(2 * CANCELLED + 1 + POLLERS)
    stop = time.monotonic() + 25

    def cancel(slot_id: str, index: int) -> int:
        appointment_id, token = booked[slot_id][index]
        barrier.wait()
        return _post(live_url, f"/appointments/{appointment_id}/cancel", {}, token).status_code

    def raise_capacity() -> int:
        barrier.wait()
        answer = requests.patch(
            f"{live_url}/admin/slots/{slot_a}",
            json={"capacity": CAPACITY + 1},
            headers={"Authorization": f"Bearer {staff}"},
            timeout=60,
        )
        return answer.status_code

    def poll(index: int) -> tuple[int, str | None]:
        """A script that keeps trying both slots until it holds one (one live hold per person)."""
        barrier.wait()
        tries = 0
        while time.monotonic() < stop:
            slot_id = (slot_a, slot_b)[tries % 2]
            tries += 1
            answer = _post(live_url, "/holds", {"slot_id": slot_id}, pollers[index])
            if answer.status_code == 201:
                return 201, answer.json()["slot_id"]
            assert answer.status_code == 409, answer.text
            time.sleep(0.02)
        return 409, None

    calls: list[Any] = (
        [lambda i=i: cancel(slot_a, i) for i in range(CANCELLED)]
        + [lambda i=i: cancel(slot_b, i) for i in range(CANCELLED)]
        + [raise_capacity]
        + [lambda i=i: poll(i) for i in range(POLLERS)]
    )
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda call: call(), calls))
    changes, polls = results[: 2 * CANCELLED + 1], results[2 * CANCELLED + 1 :]
    assert changes == [200] * (2 * CANCELLED + 1), changes

    freed_in_a = CANCELLED + 1
    statuses = [_entry(live_url, token)["status"] for token in waiting]
    assert statuses.count("offered") == freed_in_a, statuses  # every freed place of A reached the waiting
    offers = {_entry(live_url, token)["offer"]["hold_id"] for token in waiting if _entry(live_url, token)["offer"]}
    assert len(offers) == freed_in_a
    won = [slot_id for status, slot_id in polls if status == 201]
    assert slot_a not in won, polls  # nobody polling beat a waiting person whose window matches
    assert len(won) <= CANCELLED, polls
    listed = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    free = {s["id"]: s["free"] for s in listed}
    assert free.get(slot_a, 0) == 0
    assert free.get(slot_b, 0) + len(won) == CANCELLED, (free, polls)  # no place given twice, none lost

    # Every offer is bookable by the person it is for.
    for n, token in enumerate(waiting):
        entry = _entry(live_url, token)
        if entry["status"] == "offered":
            body = {"hold_id": entry["offer"]["hold_id"], "phone": make_phone(7900 + n), "answers": {}}
            assert _post(live_url, "/appointments", body, token).status_code == 201
