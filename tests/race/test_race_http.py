"""Races over HTTP with real threads against the atomic local stand-in: no place is won twice."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests

from chalicelib import clock
from tests.factories import make_phone, make_pid
from tests.live import WAIT_SECONDS

pytestmark = pytest.mark.race
THREADS = 32


def _token(url: str, claims: dict[str, Any]) -> str:
    response = requests.post(f"{url}/dev/token", json=claims, timeout=WAIT_SECONDS)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _post(url: str, path: str, body: dict[str, Any], token: str) -> requests.Response:
    """A POST as a well-behaved client makes it: a 429 (the stand-in shedding load, as DynamoDB
    throttles) is retried after its Retry-After, a bounded number of times."""
    for _ in range(10):
        answer = requests.post(f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if answer.status_code != 429:
            return answer
        time.sleep(min(float(answer.headers.get("Retry-After", "1")), 2.0) * random.uniform(0.5, 1.0))
    return answer


def _staff(url: str, her_id: str) -> str:
    return _token(url, {"sub": make_pid(8000), "role": "staff", "name": "Staff", "orgs": [her_id]})


def _timebook(
    url: str, her_id: str, places: tuple[int, int], requires_confirmation: bool = False
) -> tuple[str, str, list[str]]:
    """A timebook with `slots` slots of `capacity` places on one day next week."""
    slots, capacity = places
    staff = _staff(url, her_id)
    contact = _post(
        url, "/admin/health-contacts", {"organisation": "Racekommune", "service": "Test", "her_id": her_id}, staff
    )
    assert contact.status_code == 201, contact.text
    book = _post(
        url,
        "/admin/timebooks",
        {
            "health_contact_id": contact.json()["id"],
            "name": "Koronatest",
            "type": "koronatest",
            "resource": {"name": "Test"},
            "requires_confirmation": requires_confirmation,
        },
        staff,
    )
    timebook_id = book.json()["id"]
    location = _post(url, f"/admin/timebooks/{timebook_id}/locations", {"name": "A", "address": "Gaten 1"}, staff)
    day = (clock.local(clock.now()) + timedelta(days=7)).date()
    end = f"{8 + (slots * 15) // 60:02d}:{(slots * 15) % 60:02d}"
    schedule = _post(
        url,
        f"/admin/timebooks/{timebook_id}/schedules",
        {
            "location_id": location.json()["id"],
            "from": day.isoformat(),
            "to": day.isoformat(),
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": end,
            "slot_minutes": 15,
            "capacity": capacity,
        },
        staff,
    )
    assert schedule.json()["created"] == slots
    listed = requests.get(f"{url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    return timebook_id, day.isoformat(), [s["id"] for s in listed]


def test_crowd_using_first_available_books_exactly_the_places(live_url):
    timebook_id, day, slot_ids = _timebook(live_url, "7001", places=(4, 2))  # 8 places
    citizens = [(make_pid(8100 + n), make_phone(n)) for n in range(THREADS * 2)]  # 64 citizens
    tokens = {
        pid: _token(live_url, {"sub": pid, "role": "citizen", "name": f"C{n}"}) for n, (pid, _) in enumerate(citizens)
    }
    statuses: Counter[int] = Counter()
    booked: list[dict[str, Any]] = []
    refused: list[str] = []  # bookings from a hold that were not made, and why
    lock = threading.Lock()

    def citizen(pid: str, phone: str) -> None:
        token = tokens[pid]
        for _ in range(20):
            hold = _post(live_url, "/holds", {"timebook_id": timebook_id}, token)
            with lock:
                statuses[hold.status_code] += 1
            if hold.status_code == 409:
                return  # no free time left
            assert hold.status_code == 201, hold.text
            made = _post(
                live_url, "/appointments", {"hold_id": hold.json()["id"], "phone": phone, "answers": {}}, token
            )
            with lock:
                statuses[made.status_code] += 1
                if made.status_code != 201:
                    refused.append(made.text[:300])
            if made.status_code == 201:
                with lock:
                    booked.append(made.json())
                return

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda c: citizen(*c), citizens))

    assert not [s for s in statuses if s >= 500], statuses
    assert len(booked) == 8, (statuses, refused)
    per_slot = Counter(a["slot_id"] for a in booked)
    assert set(per_slot) == set(slot_ids) and all(n == 2 for n in per_slot.values())
    left = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    assert left == []


def test_everyone_books_the_same_slot_directly(live_url):
    _, _, slot_ids = _timebook(live_url, "7002", places=(1, 3))  # one slot, 3 places
    citizens = [(make_pid(8300 + n), make_phone(100 + n)) for n in range(THREADS)]
    tokens = [_token(live_url, {"sub": pid, "role": "citizen", "name": "C"}) for pid, _ in citizens]
    barrier = threading.Barrier(THREADS)

    def book(index: int) -> int:
        barrier.wait()
        response = _post(
            live_url,
            "/appointments",
            {"slot_id": slot_ids[0], "phone": citizens[index][1], "answers": {}},
            tokens[index],
        )
        return response.status_code

    with ThreadPoolExecutor(THREADS) as pool:
        results = Counter(pool.map(book, range(THREADS)))
    assert results == Counter({201: 3, 409: THREADS - 3}), results


def _requested_appointment(url: str, her_id: str) -> tuple[str, str, str, str]:
    """A timebook that needs confirmation, one citizen's request in it; returns ids and tokens."""
    timebook_id, _, (slot_id,) = _timebook(url, her_id, places=(1, 1), requires_confirmation=True)
    citizen = _token(url, {"sub": make_pid(8501 + int(her_id)), "role": "citizen", "name": "C"})
    made = _post(url, "/appointments", {"slot_id": slot_id, "phone": make_phone(7), "answers": {}}, citizen)
    assert made.status_code == 201 and made.json()["status"] == "requested"
    return made.json()["id"], _staff(url, her_id), citizen, timebook_id


def _at_once(calls: list[Any]) -> list[int]:
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> int:
        barrier.wait()
        return call().status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_many_staff_confirming_at_once_confirm_once(live_url):
    appointment_id, staff, citizen, _ = _requested_appointment(live_url, "7101")
    results = _at_once([lambda: _post(live_url, f"/admin/appointments/{appointment_id}/confirm", {}, staff)] * 12)
    assert Counter(results) == Counter({200: 1, 409: 11}), results
    final = requests.get(
        f"{live_url}/appointments/{appointment_id}",
        headers={"Authorization": f"Bearer {citizen}"},
        timeout=WAIT_SECONDS,
    )
    assert final.json()["status"] == "booked"


def test_reject_racing_cancel_ends_in_one_state(live_url):
    appointment_id, staff, citizen, timebook_id = _requested_appointment(live_url, "7102")
    reject = lambda: _post(live_url, f"/admin/appointments/{appointment_id}/reject", {"reason": "r"}, staff)  # noqa: E731
    cancel = lambda: _post(live_url, f"/appointments/{appointment_id}/cancel", {}, citizen)  # noqa: E731
    results = _at_once([reject, cancel] * 6)
    assert Counter(results) == Counter({200: 1, 409: 11}), results
    final = requests.get(
        f"{live_url}/appointments/{appointment_id}",
        headers={"Authorization": f"Bearer {citizen}"},
        timeout=WAIT_SECONDS,
    ).json()
    winner = "rejected" if results[::2].count(200) else "cancelled"
    assert final["status"] == winner
    day = final["start"][:10]
    free = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    assert [s["free"] for s in free] == [1]  # the place was freed exactly once


def test_one_person_booking_many_slots_at_once_gets_one(live_url):
    timebook_id, day, slot_ids = _timebook(live_url, "7003", places=(8, 1))
    # The timebook keeps its default: one active appointment per person.
    token = _token(live_url, {"sub": make_pid(8600), "role": "citizen", "name": "Eager"})
    calls = [
        (
            lambda slot_id: (
                lambda: _post(
                    live_url, "/appointments", {"slot_id": slot_id, "phone": make_phone(9), "answers": {}}, token
                )
            )
        )(s)
        for s in slot_ids
    ] * 2
    results = _at_once(calls)
    assert Counter(results) == Counter({201: 1, 409: len(calls) - 1}), results
    left = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    assert sum(s["free"] for s in left) == 7


def test_concurrent_retries_with_one_idempotency_key_make_one_appointment(live_url):
    timebook_id, day, slot_ids = _timebook(live_url, "7004", places=(2, 2))
    token = _token(live_url, {"sub": make_pid(8800), "role": "citizen", "name": "Retrying"})
    body = {"slot_id": slot_ids[0], "phone": make_phone(88), "answers": {}}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "retry-1"}
    calls = [lambda: requests.post(f"{live_url}/appointments", json=body, headers=headers, timeout=60)] * 16
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> requests.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        responses = list(pool.map(run, calls))
    statuses = Counter(r.status_code for r in responses)
    assert statuses[201] == 1 and statuses[201] + statuses[200] == len(calls), statuses
    assert len({r.json()["id"] for r in responses}) == 1
    mine = requests.get(f"{live_url}/appointments", headers={"Authorization": f"Bearer {token}"}, timeout=WAIT_SECONDS)
    assert len(mine.json()["items"]) == 1
    left = requests.get(f"{live_url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    assert sum(s["free"] for s in left) == 3


def _places_taken(url: str, timebook_id: str, day: str, slot_ids: list[str], capacity: int) -> int:
    listed = {
        s["id"]: s["free"]
        for s in requests.get(f"{url}/timebooks/{timebook_id}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    }
    return sum(capacity - listed.get(slot_id, 0) for slot_id in slot_ids)


@pytest.mark.parametrize("children", [0, 3])
def test_one_token_hammering_holds_never_holds_more_than_one_place_per_person(live_url, children):
    """A script with one token (a parent acting for k children too) sends holds from many threads
    at once, over and over: at no moment does it hold more than k + 1 places of the timebook."""
    her_id = f"72{children:02d}"
    capacity = 2
    timebook_id, day, slot_ids = _timebook(live_url, her_id, places=(12, capacity))  # 24 places
    kids = [make_pid(8900 + 10 * children + n) for n in range(children)]
    token = _token(
        live_url,
        {
            "sub": make_pid(8890 + children),
            "role": "citizen",
            "name": "Hoarder",
            "represents": [{"pid": pid, "name": f"Barn {n}"} for n, pid in enumerate(kids)],
        },
    )
    people = [None, *kids]
    statuses: Counter[int] = Counter()
    most = 0
    lock = threading.Lock()
    stop = threading.Event()

    def hoard(n: int) -> None:
        for round_ in range(6):
            body: dict[str, Any] = {"slot_id": slot_ids[(n * 7 + round_ * 5) % len(slot_ids)]}
            if people[n % len(people)]:
                body["for_pid"] = people[n % len(people)]
            response = _post(live_url, "/holds", body, token)
            with lock:
                statuses[response.status_code] += 1

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            taken = _places_taken(live_url, timebook_id, day, slot_ids, capacity)
            with lock:
                most = max(most, taken)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(hoard, range(16)))
    finally:
        stop.set()
        watcher.join()
    final = _places_taken(live_url, timebook_id, day, slot_ids, capacity)
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[201] >= len(people), statuses
    assert most <= len(people) and final == len(people), (most, final, statuses)
