"""Make moto's DynamoDB transactions cost what they touch, not the whole table.

moto 5.2 backs up a transaction by deep-copying every table it touches, once per operation,
stream records included: a booking transaction then costs O(table size) and a local surge
slows to a crawl as the table grows. This patch snapshots only the items the transaction
names and restores just those on cancellation; everything else is moto's own code (the
conditions, the writes, the cancellation reasons). Local stand-in and tests only.
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

_installed = False
_lock = threading.Lock()


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    taken = []
    for entry in transact_items:
        op = next(iter(entry.values()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Key") or {
            name: op.get("Item", {}).get(name)
            for name in (table.hash_key_attr, table.range_key_attr)
            if name and op.get("Item", {}).get(name) is not None
        }
        if table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
        try:
            current = table.get_item(hash_value, range_value)
        except Exception:
            current = None
        taken.append((table, hash_value, range_value, copy.deepcopy(current)))
    return taken


def _restore(taken: list[tuple[Any, Any, Any, Any]], stream_lengths: dict[int, int]) -> None:
    for table, hash_value, range_value, old in reversed(taken):
        if range_value is not None:
            bucket = table.items[hash_value]
            if old is None:
                bucket.pop(range_value, None)
            else:
                bucket[range_value] = old
        elif old is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = old
        shard = table.stream_shard
        if shard is not None and id(table) in stream_lengths:
            del shard.items[stream_lengths[id(table)] :]


def install() -> None:
    """Idempotent; call before the first transaction."""
    global _installed
    with _lock:
        if _installed:
            return
        import moto.dynamodb.models as models
        from moto.dynamodb.models.table import Table

        original = models.DynamoDBBackend.transact_write_items

        def _deepcopy(value: Any, memo: Any = None) -> Any:
            # The table "backup" moto takes becomes the table itself; our snapshot restores instead.
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

        models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)  # type: ignore[attr-defined]

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            taken = _snapshot(self, transact_items)
            stream_lengths = {
                id(table): len(table.stream_shard.items) for table, *_ in taken if table.stream_shard is not None
            }
            try:
                original(self, transact_items)
            except Exception:
                _restore(taken, stream_lengths)
                raise

        models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _installed = True
