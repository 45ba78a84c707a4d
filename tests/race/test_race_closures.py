"""A closure racing reschedules, over HTTP with real threads (issue 18).

Fifty appointments in the 08:00 slot are moved to 10:00-10:45 while staff close 08:00-08:15.
However it interleaves, the closure cancels only appointments still in the closed slot: every
move that was answered 200 ends booked in its new slot, every other appointment ends cancelled
with the closure's reason, and the places add up.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.factories import make_phone, make_pid
from tests.live import WAIT_SECONDS
from tests.race.test_race_http import _post, _staff, _timebook, _token

pytestmark = pytest.mark.race
MOVERS = 50
HER_ID = "7801"


def test_a_closure_never_cancels_an_appointment_moved_out_of_its_range(live_url):
    timebook_id, day, slot_ids = _timebook(live_url, HER_ID, places=(11, MOVERS))
    closed, targets = slot_ids[0], slot_ids[8:11]  # 08:00; 10:00, 10:15, 10:30
    listed = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    start = next(s["start"] for s in listed if s["id"] == closed)
    end = next(s["end"] for s in listed if s["id"] == closed)
    people = []
    for n in range(MOVERS):
        pid = make_pid(7900 + n)
        token = _token(live_url, {"sub": pid, "role": "citizen", "name": f"Flytter {n}"})
        made = _post(
            live_url, "/appointments", {"slot_id": closed, "phone": make_phone(7900 + n), "answers": {}}, token
        )
        assert made.status_code == 201, made.text
        people.append((token, made.json()["id"]))
    staff = _staff(live_url, HER_ID)
    barrier = threading.Barrier(MOVERS + 1)

    def close() -> int:
        barrier.wait()
        body = {"from": start, "to": end, "reason": "Stengt"}
        return _post(live_url, f"/admin/timebooks/{timebook_id}/closures", body, staff).status_code

    def move(index: int) -> int:
        token, appointment_id = people[index]
        barrier.wait()
        body = {"slot_id": targets[index % len(targets)]}
        return _post(live_url, f"/appointments/{appointment_id}/reschedule", body, token).status_code

    calls: list[Any] = [close] + [lambda i=i: move(i) for i in range(MOVERS)]
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda call: call(), calls))
    assert results[0] == 200, results[0]
    moves = results[1:]
    assert set(moves) <= {200, 409}, moves

    moved = 0
    for (token, appointment_id), status in zip(people, moves, strict=True):
        got = requests.get(
            f"{live_url}/appointments/{appointment_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()
        if status == 200:
            moved += 1
            assert got["slot_id"] in targets and got["status"] == "booked", got
        else:
            assert got["slot_id"] == closed and got["status"] == "cancelled", got
    after = {
        s["id"]: s
        for s in requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()[
            "items"
        ]
    }
    taken = sum(MOVERS - after[t]["free"] for t in targets)
    assert taken == moved, (taken, moved)
