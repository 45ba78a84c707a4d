"""The whole write surface while DynamoDB answers transaction conflicts to 30 % of writes
(chalicelib/local/moto_server.Conflicts, in-process moto): every call answers what it would
without conflicts, or 429 with Retry-After that a retry gets past; never a 5xx, never a 409 it
did not earn (a false `already_waiting`, `slot_unavailable`, `conflict`); the places add up.

Also run with the rate at 100 %: then every write is load, and the answer is 429 `busy`, never
503 and never a refusal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.booking import waitlist
from chalicelib.errors import Busy
from chalicelib.local.gateway import Response
from chalicelib.local.moto_server import Conflicts
from tests.conftest import Citizen, moto_table
from tests.helpers import book_body, timebook_body

RATE = 0.3
ANSWERS = {"q1": "ja"}


@pytest.fixture
def world(client: Any, demo: Any, staff_token: str) -> Iterator[dict[str, Any]]:
    """A timebook without confirmation, one with; four slots of two places each, five days ahead."""
    found: dict[str, Any] = {"client": client, "staff": staff_token}
    for name, confirm in (("open", False), ("confirm", True)):
        body = timebook_body(demo.smittevern_id, requires_confirmation=confirm, max_active_per_person=None)
        body["form"]["questions"][0]["id"] = "q1"
        tb = client.post("/admin/timebooks", body, token=staff_token).json["id"]
        location = client.post(f"/admin/timebooks/{tb}/locations", {"name": "L", "address": "G 1"}, token=staff_token)
        day = (clock.local(clock.now()) + timedelta(days=5)).date().isoformat()
        schedule = {
            "location_id": location.json["id"],
            "from": day,
            "to": day,
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": "09:00",
            "slot_minutes": 15,
            "capacity": 2,
        }
        assert client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff_token).status == 201
        slots = client.get(f"/timebooks/{tb}/slots?date={day}").json["items"]
        found[name] = {"tb": tb, "day": day, "slots": [s["id"] for s in slots], "location": location.json["id"]}
    clock.stop_monotonic()  # backoff sleeps move the clock instead of waiting
    yield found


class Walk:
    """Calls that must succeed; a 429 (with Retry-After) is load and is retried, as a client does."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.statuses: list[int] = []

    def call(self, method: str, path: str, body: Any = None, *, token: str, expect: int, **headers: str) -> Any:
        for _ in range(30):
            answer: Response = self.client.request(method, path, json_body=body, token=token, headers=headers)
            self.statuses.append(answer.status)
            assert answer.status < 500, answer
            if answer.status != 429:
                assert answer.status == expect, (method, path, answer)
                return answer.json
            assert answer.headers.get("retry-after"), answer
            assert answer.json["error"]["code"] in ("busy", "throttled"), answer
        raise AssertionError(f"{method} {path}: 429 thirty times")


def _places_add_up(client: Any, tb: str, day: str) -> None:
    """No place given twice: every slot's claims fit its capacity, and every booked or requested
    appointment has its own place in its slot."""
    table = moto_table()
    seen: dict[tuple[str, str], str] = {}
    for partition in table.items.values():
        for item in partition.values():
            data = item.to_json()["Attributes"]
            if "places" in data and "capacity" in data and data.get("timebook_id", {}).get("S") == tb:
                places = data["places"]["M"]
                assert len(places) <= int(data["capacity"]["N"]), data
                for number, claim in places.items():
                    key = (data["slot_id"]["S"], number)
                    assert key not in seen
                    seen[key] = claim["M"]["ref"]["S"] if "ref" in claim["M"] else str(claim)


def test_every_write_under_conflicts_answers_as_without_them_or_429(world: dict[str, Any]) -> None:
    client, staff = world["client"], world["staff"]
    walk = Walk(client)
    conflicts = Conflicts(RATE, seed=20)
    undo = conflicts.install()
    try:
        tb, slots = world["open"]["tb"], world["open"]["slots"]
        a, b = Citizen(9101), Citizen(9102)
        # hold, release (DELETE /holds), hold again, book from it
        hold = walk.call("POST", "/holds", {"slot_id": slots[0]}, token=a.token, expect=201)
        walk.call("DELETE", f"/holds/{hold['id']}", token=a.token, expect=204)
        hold = walk.call("POST", "/holds", {"timebook_id": tb}, token=a.token, expect=201)
        booked = walk.call(
            "POST", "/appointments", book_body(a.phone, ANSWERS, hold_id=hold["id"]), token=a.token, expect=201
        )
        # straight from a slot, with an idempotency key sent twice: one appointment
        body = book_body(b.phone, ANSWERS, slot_id=slots[1])
        first = walk.call("POST", "/appointments", body, token=b.token, expect=201, **{"Idempotency-Key": "k-9102"})
        again = walk.call("POST", "/appointments", body, token=b.token, expect=200, **{"Idempotency-Key": "k-9102"})
        assert again["id"] == first["id"]
        # reschedule, then cancel
        target = slots[2] if booked["slot_id"] != slots[2] else slots[3]
        moved = walk.call(
            "POST", f"/appointments/{booked['id']}/reschedule", {"slot_id": target}, token=a.token, expect=200
        )
        assert moved["slot_id"] == target
        walk.call("POST", f"/appointments/{first['id']}/cancel", {}, token=b.token, expect=200)
        # staff: capacity up, a slot closed and opened
        walk.call("PATCH", f"/admin/slots/{slots[3]}", {"capacity": 3}, token=staff, expect=200)
        walk.call("PATCH", f"/admin/slots/{slots[3]}", {"closed": True}, token=staff, expect=200)
        walk.call("PATCH", f"/admin/slots/{slots[3]}", {"closed": False}, token=staff, expect=200)
        # the timebook fills up: first-available holds until none is left (only then a 409)
        n = 9120
        while True:
            n += 1
            other = Citizen(n)
            answer = client.post("/holds", {"timebook_id": tb}, token=other.token)
            walk.statuses.append(answer.status)
            assert answer.status in (201, 409, 429), answer
            if answer.status == 409:
                assert answer.json["error"]["code"] == "slot_unavailable", answer
                break
            if answer.status == 201:
                body = book_body(other.phone, ANSWERS, hold_id=answer.json["id"])
                walk.call("POST", "/appointments", body, token=other.token, expect=201)
        day = world["open"]["day"]
        days = client.get(f"/timebooks/{tb}/calendar?month={day[:7]}").json["days"]
        assert [d["free"] for d in days if d["date"] == day] in ([], [0]), days  # the 409 was earned
        assert n - 9121 == 2 + 2 + 2 + 3 - 1, n  # every place but a's went to the crowd
        waiting = Citizen(9109)
        entry = walk.call("POST", "/waitlist", {"timebook_id": tb}, token=waiting.token, expect=201)
        walk.call("DELETE", f"/waitlist/{entry['id']}", token=waiting.token, expect=204)
        entry = walk.call("POST", "/waitlist", {"timebook_id": tb}, token=waiting.token, expect=201)
        assert entry["status"] == "waiting", entry
        walk.call("POST", f"/appointments/{moved['id']}/cancel", {}, token=a.token, expect=200)  # an offer follows
        mine = walk.call("GET", "/waitlist", token=waiting.token, expect=200)["items"][0]
        for _ in range(10):  # offering is best effort at once (a conflict may end it), else the sweep's
            if mine["status"] == "offered":
                break
            with contextlib.suppress(Busy):
                waitlist.sweep()  # the every-minute sweep, under the same conflicts
            mine = walk.call("GET", "/waitlist", token=waiting.token, expect=200)["items"][0]
        assert mine["status"] == "offered", mine
        body = book_body(waiting.phone, ANSWERS, hold_id=mine["offer"]["hold_id"])
        walk.call("POST", "/appointments", body, token=waiting.token, expect=201)
        offset = moved["start"][-6:]
        closure = {"from": f"{day}T08:45:00{offset}", "to": f"{day}T09:00:00{offset}", "reason": "Strømbrudd"}
        walk.call("POST", f"/admin/timebooks/{tb}/closures", closure, token=staff, expect=200)
        _places_add_up(client, tb, world["open"]["day"])
        # confirm and reject
        tb2, slots2 = world["confirm"]["tb"], world["confirm"]["slots"]
        asked = [Citizen(9110 + n) for n in range(2)]
        made = [
            walk.call(
                "POST", "/appointments", book_body(p.phone, ANSWERS, slot_id=slots2[0]), token=p.token, expect=201
            )
            for p in asked
        ]
        walk.call("POST", f"/admin/appointments/{made[0]['id']}/confirm", {}, token=staff, expect=200)
        walk.call("POST", f"/admin/appointments/{made[1]['id']}/reject", {"reason": "Nei"}, token=staff, expect=200)
        walk.call("POST", f"/admin/appointments/{made[0]['id']}/cancel", {"reason": "Syk"}, token=staff, expect=200)
        _places_add_up(client, tb2, world["confirm"]["day"])
    finally:
        undo()
    assert conflicts.injected >= 5, conflicts.injected  # the walk really met conflicts


def test_when_every_write_conflicts_the_answer_is_429_busy(world: dict[str, Any]) -> None:
    client = world["client"]
    a = Citizen(9201)
    slot = world["open"]["slots"][0]
    undo = Conflicts(1.0, seed=1).install()
    try:
        for method, path, body in (
            ("POST", "/holds", {"slot_id": slot}),
            ("POST", "/appointments", book_body(a.phone, ANSWERS, slot_id=slot)),
            ("POST", "/waitlist", {"timebook_id": world["open"]["tb"]}),
        ):
            answer = client.request(method, path, json_body=body, token=a.token)
            assert answer.status == 429, answer
            assert answer.json["error"]["code"] == "busy" and answer.headers["retry-after"] == "1"
        staff = world["staff"]
        answer = client.request("PATCH", f"/admin/slots/{slot}", json_body={"closed": True}, token=staff)
        assert answer.status == 429, answer
    finally:
        undo()
    # nothing was written meanwhile: the same calls go through now
    assert client.post("/holds", {"slot_id": slot}, token=a.token).status == 201
