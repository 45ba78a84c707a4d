"""The waiting room's signing key (issue 20): in AWS tokens are verified by JWKS, so there is no
token secret to key tickets with; the stack's secret (WAITING_ROOM_KEY_SECRET) keys them, read once
per process when a queue call first needs it, so a ticket one Lambda process gave holds in every
other. A deployed stage without a key refuses queue calls (503) instead of keying per process."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib import settings
from chalicelib.booking import queue
from tests.booking.test_queue import join, make_timebook
from tests.conftest import REGION, Citizen


def make_secret(name: str, value: str) -> str:
    return boto3.client("secretsmanager", region_name=REGION).create_secret(Name=name, SecretString=value)["ARN"]


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every read of the secret, by id."""
    seen: list[str] = []
    real = queue.read_secret

    def counting(secret_id: str) -> str:
        seen.append(secret_id)
        return real(secret_id)

    monkeypatch.setattr(queue, "read_secret", counting)
    return seen


@pytest.fixture
def stack_key(monkeypatch, aws) -> str:
    """A deployed stage as the stack sets it up: no token secret, the key in Secrets Manager."""
    arn = make_secret("timebok-waiting-room-key", "k" * 64)
    monkeypatch.setenv("WAITING_ROOM_KEY_SECRET", arn)
    return arn


@pytest.fixture
def room(client, demo, staff_token) -> str:
    tb, _ = make_timebook(client, demo, staff_token, waiting_room={"enabled": True, "admit_per_minute": 2})
    return tb


def another_process() -> None:
    """A fresh Lambda process: every per-process cache and key forgotten, the same environment."""
    settings.reset()
    queue._process_key.cache_clear()


def test_a_ticket_from_one_process_holds_in_another(client, room, stack_key, reads):
    place = join(client, room, Citizen(71)).json
    assert client.get(f"/queue/{place['ticket']}").status == 200
    assert reads == [stack_key]  # once for the join and the poll
    another_process()
    polled = client.get(f"/queue/{place['ticket']}")
    assert polled.status == 200 and polled.json["arrival"] == place["arrival"]
    again = join(client, room, Citizen(71))  # the same person's hash: the same place, not a new one
    assert again.status == 200 and again.json["ticket"] == place["ticket"]
    assert reads == [stack_key, stack_key]  # once per process


def test_a_ticket_under_another_key_is_refused(client, room, stack_key, monkeypatch):
    ticket = join(client, room, Citizen(72)).json["ticket"]
    monkeypatch.setenv("WAITING_ROOM_KEY_SECRET", make_secret("another-stack-key", "x" * 64))
    another_process()
    refused = client.get(f"/queue/{ticket}")
    assert refused.status == 404 and refused.json["error"]["code"] == "ticket_not_found"


def test_calls_outside_the_room_never_read_the_key(client, demo, stack_key, reads, citizen):
    another_process()
    assert client.get("/health-contacts").status == 200
    assert client.get("/appointments", token=citizen.token).status == 200
    assert reads == []


def test_an_unreadable_key_is_a_503_and_read_again_next_time(client, room, monkeypatch, aws, reads):
    arn = make_secret("timebok-waiting-room-key", "k" * 64)
    monkeypatch.setenv("WAITING_ROOM_KEY_SECRET", arn + "-gone")
    answer = join(client, room, Citizen(73))
    assert answer.status == 503 and answer.json["error"]["code"] == "service_unavailable"
    assert answer.headers["retry-after"] == "5"
    monkeypatch.setenv("WAITING_ROOM_KEY_SECRET", arn)  # the grant or the network is back
    assert join(client, room, Citizen(73)).status == 201
    assert len(reads) == 2


def _deployed_without_a_key(monkeypatch: Any) -> None:
    monkeypatch.setenv("TIMEBOK_STAGE", "prod")
    for name in ("WAITING_ROOM_KEY_SECRET", "PSEUDONYM_KEY", "TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_a_deployed_stage_without_a_key_fails_closed(client, room, monkeypatch):
    ticket = join(client, room, Citizen(74)).json["ticket"]
    _deployed_without_a_key(monkeypatch)
    another_process()
    refused = client.get(f"/queue/{ticket}")
    assert refused.status == 503 and refused.json["error"]["code"] == "service_unavailable"
    with pytest.raises(queue.Unavailable):
        queue._key()


def test_the_local_stage_without_a_key_keys_per_process(monkeypatch):
    """Only local: a ticket then holds only in the process that gave it (make run is one process)."""
    for name in ("WAITING_ROOM_KEY_SECRET", "PSEUDONYM_KEY", "TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    first = queue._key()
    assert queue._key() == first
    another_process()
    assert queue._key() != first
