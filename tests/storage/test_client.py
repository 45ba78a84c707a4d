"""One botocore client per process, made once however many threads reach storage at once (issue 20).

PynamoDB made a client per model class, lazily and without a lock, each in a botocore session of
its own: a burst of 200 waiting-room joins in `make run` (a thread per request) built one per
thread, some 60 ms of CPU each, and the joins answered in 20 s with dropped connections. These
count clients made, not seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.session import Session

from chalicelib.storage import repository
from chalicelib.storage.models import ALL_MODELS
from tests.conftest import Citizen

pytestmark = pytest.mark.moto


def _count_clients(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []
    create = Session.create_client

    def counting(self: Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service_name)
        return create(self, service_name, *args, **kwargs)

    monkeypatch.setattr(Session, "create_client", counting)
    return made


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call in its own thread, all let go at the same moment (as a thread per request)."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_every_model_shares_one_client_made_once_when_all_reach_it_at_once(aws, monkeypatch):
    made = _count_clients(monkeypatch)
    repository.reset_connections()  # cold, as a process that has served nothing yet
    calls = [lambda model=model: model._get_connection().connection.client for model in ALL_MODELS * 3]
    clients = _at_once(calls)
    assert made == ["dynamodb"]
    assert len({id(client) for client in clients}) == 1
    # Settings changed (another endpoint): the next request makes a new one, once.
    repository.reset_connections()
    again = _at_once(calls[:8])
    assert made == ["dynamodb", "dynamodb"] and {id(c) for c in again} != {id(clients[0])}


def test_a_burst_of_first_joins_makes_one_client_and_every_join_answers(client, demo, staff_token, monkeypatch):
    from tests.booking.test_queue import make_timebook

    tb, _ = make_timebook(client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 2})
    made = _count_clients(monkeypatch)
    repository.reset_connections()  # a fresh process: the crowd arrives before any other request
    people = [Citizen(8800 + n) for n in range(24)]
    answers = _at_once([lambda p=p: client.post(f"/timebooks/{tb}/queue", token=p.token) for p in people])
    assert [a.status for a in answers] == [201] * len(people), [a for a in answers if a.status != 201]
    assert len({a.json["arrival"] for a in answers}) == len(people)
    assert made.count("dynamodb") == 1
