"""The waiting room over HTTP with real threads against the atomic local stand-in: one ticket per
person and timebook however many of their requests arrive at once (issue 20)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.factories import make_pid
from tests.race.test_race_http import _post, _staff, _token

pytestmark = pytest.mark.race
THREADS = 16


def _room(url: str, her_id: str) -> str:
    staff = _staff(url, her_id)
    contact = _post(
        url, "/admin/health-contacts", {"organisation": "Kø kommune", "service": "Vaksine", "her_id": her_id}, staff
    )
    assert contact.status_code == 201, contact.text
    book = _post(
        url,
        "/admin/timebooks",
        {
            "health_contact_id": contact.json()["id"],
            "name": "Vaksine",
            "type": "vaksine",
            "resource": {"name": "Vaksine"},
            "waiting_room": {"enabled": True, "admit_per_minute": 10},
        },
        staff,
    )
    assert book.status_code == 201, book.text
    return str(book.json()["id"])


def test_one_ticket_per_person_whatever_arrives_at_once(live_url: str) -> None:
    timebook_id = _room(live_url, "8209001")
    tokens = [_token(live_url, {"sub": make_pid(7100 + n), "role": "citizen", "name": f"K {n}"}) for n in range(4)]
    # Each of four people presses «Still i kø» four times at once.
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(
            pool.map(lambda token: _post(live_url, f"/timebooks/{timebook_id}/queue", {}, token), tokens * 4)
        )
    assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers if a.status_code >= 300]
    by_person: dict[str, set[str]] = {}
    created: dict[str, int] = {}
    for token, answer in zip(tokens * 4, answers, strict=True):
        by_person.setdefault(token, set()).add(answer.json()["ticket"])
        created[token] = created.get(token, 0) + (answer.status_code == 201)
    assert all(len(tickets) == 1 for tickets in by_person.values()), "a person got two tickets"
    assert set(created.values()) == {1}, "exactly one 201 per person"
    arrivals = {next(iter(t)) for t in by_person.values()}
    assert len(arrivals) == 4
    polled = requests.get(f"{live_url}/queue/{next(iter(by_person[tokens[0]]))}", timeout=30)
    assert polled.status_code == 200 and polled.json()["state"] in ("waiting", "admitted")
    assert "max-age=" in polled.headers["Cache-Control"]
