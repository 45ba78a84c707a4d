"""A small world for waitlist and closure tests: one timebook whose only slot has one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib import clock
from tests.conftest import Citizen
from tests.helpers import book_body, timebook_body

ANSWERS = {"q1": "ja"}


@dataclass
class Small:
    client: Any
    staff: str
    timebook_id: str
    location_id: str
    day: str
    slot_ids: list[str]
    queue_url: str

    def deliver(self) -> None:
        """What the stream relay and the SQS consumer do in AWS."""
        from chalicelib.messaging import consumer
        from chalicelib.messaging.local_consumer import drain_queue
        from tests.helpers import relay_stream

        relay_stream()
        drain_queue(self.queue_url, consumer.handle_batch, visibility_timeout=0)

    def inbox_kinds(self, citizen: Citizen) -> list[str]:
        self.deliver()
        response = self.client.get("/inbox", token=citizen.token)
        assert response.status == 200, response
        return [m["kind"] for m in response.json["items"]]

    def book(self, citizen: Citizen, **source: str) -> dict[str, Any]:
        made = self.client.post("/appointments", book_body(citizen.phone, ANSWERS, **source), token=citizen.token)
        assert made.status == 201, made
        return made.json

    def entries(self, citizen: Citizen) -> list[dict[str, Any]]:
        response = self.client.get("/waitlist", token=citizen.token)
        assert response.status == 200, response
        return response.json["items"]

    def entry(self, citizen: Citizen) -> dict[str, Any]:
        found = self.entries(citizen)
        assert len(found) >= 1, found
        return found[0]

    def join(self, citizen: Citizen, **extra: Any) -> dict[str, Any]:
        response = self.client.post("/waitlist", {"timebook_id": self.timebook_id, **extra}, token=citizen.token)
        assert response.status == 201, response
        return response.json

    def free(self, slot_id: str) -> int:
        response = self.client.get(f"/timebooks/{self.timebook_id}/slots?date={self.day}")
        assert response.status == 200, response
        return next((s["free"] for s in response.json["items"] if s["id"] == slot_id), 0)


def small_world(
    client: Any,
    demo: Any,
    staff: str,
    queue_url: str,
    *,
    slots: int = 1,
    capacity: int = 1,
    max_active: int | None = None,
) -> Small:
    body = timebook_body(demo.smittevern_id, requires_confirmation=False, max_active_per_person=max_active)
    body["form"]["questions"][0]["id"] = "q1"
    made = client.post("/admin/timebooks", body, token=staff)
    assert made.status == 201, made
    tb = made.json["id"]
    location = client.post(f"/admin/timebooks/{tb}/locations", {"name": "Lab A", "address": "Gata 1"}, token=staff)
    assert location.status == 201, location
    day = (clock.local(clock.now()) + timedelta(days=5)).date().isoformat()
    schedule = {
        "location_id": location.json["id"],
        "from": day,
        "to": day,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": f"{8 + (15 * slots) // 60:02d}:{(15 * slots) % 60:02d}",
        "slot_minutes": 15,
        "capacity": capacity,
    }
    created = client.post(f"/admin/timebooks/{tb}/schedules", schedule, token=staff)
    assert created.status == 201 and created.json["created"] == slots, created
    listed = client.get(f"/timebooks/{tb}/slots?date={day}").json["items"]
    return Small(client, staff, tb, location.json["id"], day, [s["id"] for s in listed], queue_url)


def join_after_the_hold_asks(monkeypatch: Any, join: Callable[[], Any]) -> list[bool]:
    """Someone joins the waitlist just after a hold asked it (`waitlist.comes_first`) and before the
    hold writes: the race the registry's stamp settles. The list fills with comes_first's answers."""
    from chalicelib.booking import waitlist

    real, calls = waitlist.comes_first, list[bool]()

    def join_meanwhile(*args: Any, **kwargs: Any) -> bool:
        answer = real(*args, **kwargs)
        if not calls:
            with monkeypatch.context() as patched:
                patched.setattr(waitlist, "advance", lambda *a, **k: 0)  # it finds the place free later
                join()
        calls.append(answer)
        return answer

    monkeypatch.setattr(waitlist, "comes_first", join_meanwhile)
    return calls
