"""Idempotency-Key records: read to answer a replay; written inside the transaction that makes
the hold or appointment, on the condition that the key is unused (`key_unused`)."""

from __future__ import annotations

from pynamodb.expressions.condition import Condition

from chalicelib.domain.model import (
    IdempotencyRecord,
)
from chalicelib.storage import keys
from chalicelib.storage.models import (
    IdempotencyItem,
)
from chalicelib.storage.transactions import (
    get_item,
)


def get_idempotency(owner: str, scope: str, key: str) -> IdempotencyRecord | None:
    pk, sk = keys.idempotency(owner, scope, key)
    item = get_item(IdempotencyItem, pk, sk, consistent=True)
    if item is None:
        return None
    return IdempotencyRecord(owner, scope, key, item.request_hash, str(item.result_id), int(item.ttl))


def key_unused(now_epoch: int) -> Condition:
    """An Idempotency-Key is free if never used, or used more than 24 h ago (TTL deletes late)."""
    return IdempotencyItem.pk.does_not_exist() | (IdempotencyItem.ttl <= now_epoch)
