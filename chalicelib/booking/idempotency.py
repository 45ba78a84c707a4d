"""Idempotency-Key (API.md): a retried POST answers what the first one made, never a second one.

Hand-written rather than Powertools' idempotency: the record is written in the very transaction
that makes the hold or the appointment (storage conditions it on the key being unused), so a
key can never point at something that was not made, nor something be made twice under one key.
A request reads its key only after its transaction lost on it, or to answer a replay.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from chalicelib import clock
from chalicelib.domain.model import IdempotencyRecord
from chalicelib.domain.people import Principal
from chalicelib.errors import Conflict
from chalicelib.storage import repository

SECONDS = 24 * 3600  # how long a key answers its first request


@dataclass(frozen=True, eq=False)  # compared by nothing: no generated __eq__ to compile at a cold start
class Key:
    """A client's Idempotency-Key, for one kind of request (`scope`), with the hash of the request."""

    scope: str
    key: str
    request_hash: str

    @classmethod
    def of(cls, scope: str, key: str | None, command: Any) -> Key | None:
        return cls(scope, key, request_hash_of(command)) if key else None


def request_hash_of(command: Any) -> str:
    """What makes two requests "the same" for an Idempotency-Key: their commands (a dataclass of
    the validated body's fields, so the hash is the body's as JSON, as it always was). A field
    added later with `hashed_when_set` counts only when it differs from its default, so a key
    whose first request came before the field (or left it out) still matches its retry."""
    fields = dataclasses.asdict(command)
    for field in dataclasses.fields(command):
        if field.metadata.get("hashed_when_set") and fields[field.name] == field.default:
            del fields[field.name]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_as_json)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _as_json(value: Any) -> Any:
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not part of a command")


def first_result(principal: Principal, key: Key) -> str | None:
    """The id of what the key's first request made (within 24 h), or None; the same key with
    another body is 409 `idempotency_key_reused`."""
    record = repository.get_idempotency(principal.sub, key.scope, key.key)
    if record is None or record.ttl <= clock.epoch():
        return None
    if record.request_hash != key.request_hash:
        raise Conflict("This Idempotency-Key was used with another request.", code="idempotency_key_reused")
    return record.result_id


def record(principal: Principal, key: Key | None, result_id: str, now_epoch: int) -> IdempotencyRecord | None:
    """The record to write in the transaction that makes `result_id` (None without a key)."""
    if key is None:
        return None
    return IdempotencyRecord(principal.sub, key.scope, key.key, key.request_hash, result_id, now_epoch + SECONDS)
