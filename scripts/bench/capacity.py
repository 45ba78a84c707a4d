"""DynamoDB capacity arithmetic, by DynamoDB's published rules: item sizes, read and write units of
each request (GSI writes included), per-booking totals and partition shares.

The figures docs/capacity.md rests on come from here; tests/bench/ checks the rules one by one.
"""

from __future__ import annotations

import base64
import contextlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Operations that accept ReturnConsumedCapacity.
_RETURNS_CAPACITY = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})

# ---- DynamoDB item sizes and capacity units, by DynamoDB's published rules ----------------------


def _number_size(text: str) -> int:
    """About 1 byte per two significant digits, plus 1."""
    mantissa = text.lower().split("e")[0].lstrip("+-").replace(".", "")
    digits = mantissa.strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else len(base64.b64decode(value))


def attribute_size(value: Mapping[str, Any]) -> int:
    """Size of one AttributeValue (wire format): lists and maps cost 3 bytes + 1 per element."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(_binary_size(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(e) for e in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(e) for k, e in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def read_units(size: int, consistent: bool) -> float:
    """4 KB units, at least one; eventually consistent reads cost half."""
    units = max(1, math.ceil(size / 4096))
    return units * (1.0 if consistent else 0.5)


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


class MotoTables:
    """Reads item images straight from moto's in-process backend (no API call, not counted).

    Only for `mock_aws`: it gives the before-image a write's cost depends on (DynamoDB charges
    max(before, after)), which the API response does not carry.
    """

    def __init__(self, region: str, lock: threading.Lock | None = None) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
        # Against the live stand-in, moto serves other threads meanwhile: read under its lock.
        self._lock = lock

    def _table(self, name: str) -> Any:
        return self._backend.get_table(name)

    def key_of(self, table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
        table = self._table(table_name)
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {n: item[n] for n in names if n in item}

    def get(self, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self._table(table_name)
        if table.hash_key_attr not in key:
            return None
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
        with self._lock or contextlib.nullcontext():
            try:
                found = table.get_item(hash_value, range_value)
            except Exception:
                return None
            return found.to_json()["Attributes"] if found is not None else None

    def sizes_by_kind(self, table_name: str) -> dict[str, dict[str, int]]:
        """Item sizes by the kind of item (the pk's prefix: TB, HC, AP, EV; slots as SLOT)."""
        sizes: dict[str, list[int]] = {}
        for found in self._table(table_name).all_items():
            item = found.to_json()["Attributes"]
            pk = str(item.get("pk", {}).get("S", "?"))
            kind = "SUMMARY" if "#AV#" in pk else pk.split("#", 1)[0]
            sizes.setdefault(kind, []).append(item_size(item))
        return {
            kind: {"items": len(v), "min_bytes": min(v), "max_bytes": max(v), "mean_bytes": round(sum(v) / len(v))}
            for kind, v in sorted(sizes.items())
        }

    def partition_bytes(self, table_name: str, pk: str) -> int:
        """What a Query of the whole partition reads: the sizes of its items, added up."""
        return sum(
            item_size(item)
            for item in (found.to_json()["Attributes"] for found in self._table(table_name).all_items())
            if item.get("pk", {}).get("S") == pk
        )

    def index_keys(self, table_name: str) -> list[tuple[str, ...]]:
        table = self._table(table_name)
        return [tuple(k["AttributeName"] for k in index.schema) for index in table.global_indexes]


def gsi_write_units(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, indexes: list[tuple[str, ...]]
) -> float:
    """Writes a table write causes in GSIs (all ours project ALL): put, delete, or both when a
    key attribute changes; an update in place when only other attributes change."""
    units = 0.0
    for names in indexes:
        was = before is not None and all(n in before for n in names)
        now = after is not None and all(n in after for n in names)
        if was and now:
            assert before is not None and after is not None
            if any(before[n] != after[n] for n in names):
                units += write_units(item_size(before)) + write_units(item_size(after))
            elif before != after:
                units += write_units(max(item_size(before), item_size(after)))
        elif was:
            units += write_units(item_size(before))
        elif now:
            units += write_units(item_size(after))
    return units


@dataclass
class _WriteTarget:
    table: str
    key: dict[str, Any]
    before: dict[str, Any] | None
    put: dict[str, Any] | None = None  # the new item of a Put
    check_only: bool = False


class CapacityCalculator:
    """Capacity units of one request from item sizes (the 'computed' method)."""

    def __init__(self, tables: MotoTables) -> None:
        self.tables = tables

    def before(self, operation: str, params: Mapping[str, Any]) -> list[_WriteTarget]:
        if operation in _WRITES:
            return [self._target(operation, params)]
        if operation == "TransactWriteItems":
            targets = []
            for entry in params.get("TransactItems", []):
                ((kind, op),) = entry.items()
                target = self._target(
                    {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}.get(kind, ""), op
                )
                target.check_only = kind == "ConditionCheck"
                targets.append(target)
            return targets
        return []

    def _target(self, operation: str, op: Mapping[str, Any]) -> _WriteTarget:
        table = op["TableName"]
        put = op.get("Item") if operation == "PutItem" else None
        key = dict(op.get("Key") or self.tables.key_of(table, put or {}))
        return _WriteTarget(table, key, self.tables.get(table, key), put)

    def charge(
        self,
        operation: str,
        params: Mapping[str, Any],
        response: Mapping[str, Any] | None,
        targets: list[_WriteTarget],
    ) -> tuple[float, float]:
        """(read units, write units). A failed conditional write is charged on its before-image."""
        if operation == "GetItem":
            item = (response or {}).get("Item")
            if item is not None and ("ProjectionExpression" in params or "AttributesToGet" in params):
                item = self.tables.get(params["TableName"], params["Key"])
            return read_units(item_size(item), bool(params.get("ConsistentRead"))), 0.0
        if operation in ("Query", "Scan"):
            return self._query_units(params, response), 0.0
        if operation == "BatchGetItem":  # each item rounded up on its own
            units = 0.0
            for table, items in ((response or {}).get("Responses") or {}).items():
                consistent = bool(params.get("RequestItems", {}).get(table, {}).get("ConsistentRead"))
                units += sum(read_units(item_size(i), consistent) for i in items)
            return units, 0.0
        if operation == "TransactGetItems":
            size_units = sum(read_units(item_size(r.get("Item")), True) for r in (response or {}).get("Responses", []))
            return 2 * size_units, 0.0
        if targets:
            factor = 2.0 if operation == "TransactWriteItems" else 1.0
            succeeded = response is not None
            total = 0.0
            for target in targets:
                after = self.tables.get(target.table, target.key) if succeeded and not target.check_only else None
                if not succeeded or target.check_only:
                    total += factor * write_units(item_size(target.before))
                    continue
                total += factor * write_units(max(item_size(target.before), item_size(after)))
                total += gsi_write_units(target.before, after, self.tables.index_keys(target.table))
            return 0.0, total
        return 0.0, 0.0

    def _query_units(self, params: Mapping[str, Any], response: Mapping[str, Any] | None) -> float:
        items = list((response or {}).get("Items", []))
        table = params["TableName"]
        if "ProjectionExpression" in params or "AttributesToGet" in params or params.get("Select") == "COUNT":
            items = [self.tables.get(table, self.tables.key_of(table, i)) or i for i in items]
        total = sum(item_size(i) for i in items)
        count, scanned = (response or {}).get("Count", 0), (response or {}).get("ScannedCount", 0)
        if scanned > count and count:
            total = round(total * scanned / count)  # filtered-out items are read too: estimate
        consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
        return read_units(total, consistent)


# ---- per booking, per second, per partition ------------------------------------------------------

# DynamoDB's throughput of one partition (hence of one item), per second.
PARTITION_RCU = 3000.0
PARTITION_WCU = 1000.0
# The surge docs/capacity.md sizes the stack for: 10,000 citizens booking within 60 s.
TARGET_BOOKINGS_PER_SECOND = 170
# The headroom docs/capacity.md plans partitions for: one timebook-day at 1,000 bookings/s.
PARTITION_BOOKINGS_PER_SECOND = 1000


def per_booking(total: float, bookings: int) -> float | None:
    """A surge's total (requests, units, lost races) per booking made; None when none was made."""
    return round(total / bookings, 2) if bookings else None


def table_load(rcu_per_booking: float, wcu_per_booking: float, bookings_per_second: float) -> dict[str, float]:
    """Units per second on the whole table when bookings arrive at this rate, losers included."""
    return {
        "bookings_per_second": bookings_per_second,
        "rcu_per_second": round(rcu_per_booking * bookings_per_second),
        "wcu_per_second": round(wcu_per_booking * bookings_per_second),
    }


# The stack's settings a surge meets (infra/stack.yaml's defaults) and DynamoDB's per-table
# on-demand maximum (an account quota, 40,000 units/s each unless raised).
STACK_DEFAULTS = {
    "TableWarmReadUnitsPerSecond": 12_000,
    "TableWarmWriteUnitsPerSecond": 6_000,
    "ApiThrottlingRateLimit": 2_000,
}
TABLE_MAX_UNITS = 40_000
HEADROOM = 0.5  # issue 20: every partition, the stage and the table settings under half


def stack_load(
    rcu_per_booking: float,
    wcu_per_booking: float,
    http_per_booking: float,
    bookings_per_second: float,
    settings: Mapping[str, int] | None = None,
) -> dict[str, dict[str, float]]:
    """What a booking rate puts on the table's warm throughput and the stage's rate limit (from a
    run's counts per booking, its losers included), each as units (or requests) per second, the
    share of the setting, and the setting that would keep it at HEADROOM (rounded up to 1,000)."""
    given = {**STACK_DEFAULTS, **(settings or {})}
    loads = {
        "TableWarmReadUnitsPerSecond": rcu_per_booking * bookings_per_second,
        "TableWarmWriteUnitsPerSecond": wcu_per_booking * bookings_per_second,
        "ApiThrottlingRateLimit": http_per_booking * bookings_per_second,
    }
    return {
        name: {
            "per_second": round(load),
            "share": round(load / given[name], 3),
            "setting": given[name],
            "setting_for_headroom": max(STACK_DEFAULTS[name], math.ceil(load / HEADROOM / 1000) * 1000),
        }
        for name, load in loads.items()
    }


def over_table_maximum(load: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The table settings that would have to pass DynamoDB's per-table maximum (a quota to raise)."""
    return [
        name
        for name in ("TableWarmReadUnitsPerSecond", "TableWarmWriteUnitsPerSecond")
        if load[name]["setting_for_headroom"] > TABLE_MAX_UNITS
    ]


def partition_share(units_per_second: float, limit: float) -> float:
    """The share of one partition's throughput (PARTITION_RCU or PARTITION_WCU) that a load takes."""
    return units_per_second / limit


@dataclass(frozen=True)
class PartitionLoad:
    """What one partition (one item, or one key of an index) takes per second at a booking rate."""

    what: str
    units_per_second: float
    limit: float  # PARTITION_RCU or PARTITION_WCU

    @property
    def share(self) -> float:
        return partition_share(self.units_per_second, self.limit)


def partition_loads(
    bookings_per_second: float,
    *,
    month_summary_bytes: int,
    appointment_bytes: int,
    appointment_shards: int,
    spread_slots: int = 48,
    slots_read_per_hold: int = 16,
    recounts_per_second: float = 50,
    summary_bytes: int = 3 * 1024,
    instances: int = 200,
    view_bytes: int = 700,
) -> list[PartitionLoad]:
    """docs/capacity.md's partitions at `bookings_per_second` holds and bookings of one timebook-day.

    The defaults are that page's: first-available spreads a crowd over 48 slots (96 places of 2)
    and reads about two batches of 8 of them consistently per hold; a recount per summary per 2 s
    in each of 100 Lambda instances; 200 instances each reading a memoised view (a day's summary,
    ~0.7 KB) once a second.
    """
    return [
        PartitionLoad(
            "a slot of first-available's spread: truth reads",
            bookings_per_second * slots_read_per_hold / spread_slots * read_units(1, consistent=True),
            PARTITION_RCU,
        ),
        PartitionLoad(
            "the month's summaries: one Query per hold",
            bookings_per_second * read_units(month_summary_bytes, consistent=False),
            PARTITION_RCU,
        ),
        PartitionLoad(
            "one shard of the staff index (gsi2): one entry per booking",
            bookings_per_second / appointment_shards * write_units(appointment_bytes),
            PARTITION_WCU,
        ),
        PartitionLoad(
            "the month's summaries: recounts",
            recounts_per_second * write_units(summary_bytes),
            PARTITION_WCU,
        ),
        PartitionLoad(
            "the month's summaries: memoised views, CDN bypassed",
            instances * read_units(view_bytes, consistent=False),
            PARTITION_RCU,
        ),
    ]


# ---- the partition model from a run's counted requests (issue 20) ----------------------------------


def partition_keys(operation: str, params: Mapping[str, Any]) -> list[str]:
    """The partition keys a request reads or writes (an index's as `index:key`), from its parameters."""

    def pk_of(key: Mapping[str, Any] | None) -> str | None:
        value = (key or {}).get("pk")
        return str(value["S"]) if isinstance(value, Mapping) and "S" in value else None

    found: list[str | None] = []
    if operation in ("GetItem", "UpdateItem", "DeleteItem"):
        found.append(pk_of(params.get("Key")))
    elif operation == "PutItem":
        found.append(pk_of(params.get("Item")))
    elif operation == "BatchGetItem":
        found += [pk_of(key) for request in params.get("RequestItems", {}).values() for key in request.get("Keys", [])]
    elif operation == "TransactWriteItems":
        for item in params.get("TransactItems", []):
            for part in item.values():
                found.append(pk_of(part.get("Key") or part.get("Item")))
    elif operation == "Query":
        values = params.get("ExpressionAttributeValues", {})
        condition = str(params.get("KeyConditionExpression", ""))
        names = params.get("ExpressionAttributeNames", {})
        # The partition key's condition is `#n = :v` with #n naming pk or an index's pk.
        for name, attribute in names.items():
            if attribute.endswith("pk") and f"{name} = " in condition:
                placeholder = condition.split(f"{name} = ", 1)[1].split()[0].rstrip(")")
                value = values.get(placeholder, {}).get("S")
                if value is not None:
                    index = params.get("IndexName")
                    found.append(f"{index}:{value}" if index else str(value))
    return [key for key in dict.fromkeys(found) if key]


def key_class(key: str) -> str:
    """What a key is, ids left out: `SLOT#*`, `TB#*#AV#{month}`, `gsi2:TB#*#AP#3`..."""
    import re

    named = re.sub(r"#(\d{4}-\d{2})(?=#|$)", "#{month}", key)
    return re.sub(r"(?<=#)[a-z]+[0-9a-f]{8,}[a-z0-9_]*|(?<=#)\d{11}", "*", named)


@dataclass(frozen=True)
class KeyLoad:
    """The hottest key of one kind at a booking rate, from a run's counted units on each key."""

    kind: str
    key: str
    rcu_per_second: float
    wcu_per_second: float

    @property
    def share(self) -> float:
        """Of one partition's limits, the larger of its read and write shares."""
        return max(self.rcu_per_second / PARTITION_RCU, self.wcu_per_second / PARTITION_WCU)


def partition_model(tally: Mapping[str, float], bookings: int, bookings_per_second: float) -> list[KeyLoad]:
    """Per kind of key, its hottest key's RCU and WCU per second when bookings arrive at this rate,
    scaled from what the run counted on each key (`key:{pk}:rcu` / `:wcu`, a request's units shared
    by the keys it touched), hottest first. A run that booked nothing gives nothing."""
    if bookings <= 0:
        return []
    per_key: dict[str, dict[str, float]] = {}
    for name, units in tally.items():
        if name.startswith("key:"):
            key, unit = name[4:].rsplit(":", 1)
            per_key.setdefault(key, {"rcu": 0.0, "wcu": 0.0})[unit] += float(units)
    scale = bookings_per_second / bookings
    hottest: dict[str, KeyLoad] = {}
    for key, units in per_key.items():
        load = KeyLoad(key_class(key), key, round(units["rcu"] * scale, 1), round(units["wcu"] * scale, 1))
        if load.kind not in hottest or load.share > hottest[load.kind].share:
            hottest[load.kind] = load
    return sorted(hottest.values(), key=lambda load: load.share, reverse=True)
