"""`make bench`: what Timebok costs, measured, not guessed.

1. DynamoDB requests and capacity units per step of the citizen's flow (steps 1-5), cold and
   warm, in-process on moto (`mock_aws`) through the local gateway.
2. A surge: 10x more citizens than places, 32 threads over HTTP against a live local stack,
   once with "first available" holds and once with everyone holding the earliest slot.
3. Import time of app.py (fresh interpreter) and the slowest imports.
4. Package size, when `make package` has made build/deployment.zip.

Tables on stdout, the same numbers in build/bench.json. No network beyond 127.0.0.1.
Method and caveats: docs/bench.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import math
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BUILD = ROOT / "build"
REGION = "eu-north-1"

# Surge defaults (the command line overrides them): 10 citizens per place, the issue's 1/10 scale.
DEFAULT_PLACES = 200
CITIZENS_PER_PLACE = 10
DEFAULT_CAPACITY = 2
DEFAULT_THREADS = 32
DEFAULT_REPEAT = 3
IMPORT_RUNS = 5
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


# ---- environment: the local stage, as tests/conftest.py sets it up ------------------------------


def local_stage_environment() -> dict[str, str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"]["local"]["environment_variables"])
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    return env


os.environ.update(local_stage_environment())
os.environ.pop("AWS_ENDPOINT_URL", None)


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


# ---- the counter: every DynamoDB request the process makes -------------------------------------


_route = threading.local()


class DynamoCounter:
    """Counts DynamoDB requests at botocore's `BaseClient._make_api_call` (service dynamodb).

    That is below PynamoDB (its `Connection._make_api_call` calls it) and so sees every request,
    TransactWriteItems included, and any boto3 client too. PynamoDB's level is counted as well,
    to show both agree. Thread-safe: the live stack serves requests on many threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: Counter[str] = Counter()
        self.samples: list[tuple[str, float | None, float]] = []
        # Against the live stack: every AWS request must go to the stand-in; others are refused.
        self.local_endpoint: str | None = None
        self.calculator: CapacityCalculator | None = None
        self.standin: Any = None  # the live stand-in's server (its shed count), during surges

    def add(self, entries: Mapping[str, float]) -> None:
        with self._lock:
            self.values.update(entries)

    def sample(self, operation: str, params: Mapping[str, Any], moto_units: float | None, computed: float) -> None:
        """Keep moto's figure next to ours, to show whether moto's figures mean anything."""
        kind = operation + (" (consistent)" if params.get("ConsistentRead") else "")
        with self._lock:
            self.samples.append((kind, moto_units, computed))

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.values)

    @contextmanager
    def window(self) -> Iterator[Counter[str]]:
        """What was counted inside the block (filled in when the block ends)."""
        before = self.snapshot()
        result: Counter[str] = Counter()
        yield result
        after = self.snapshot()
        result.update({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)})

    def install(self) -> None:
        import botocore.client
        from botocore.exceptions import ClientError
        from pynamodb.connection.base import Connection

        counter = self
        botocore_call = botocore.client.BaseClient._make_api_call
        pynamodb_call = Connection._make_api_call

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            local = counter.local_endpoint
            if local and not str(client.meta.endpoint_url).startswith(local):
                counter.add({f"refused:{service}:{operation}": 1})
                raise RuntimeError(f"bench: refused {service} {operation} to {client.meta.endpoint_url} (not local)")
            if service != "dynamodb":
                counter.add({f"aws:{service}:{operation}": 1})
                return botocore_call(client, operation, params)
            if operation in _RETURNS_CAPACITY:
                params.setdefault("ReturnConsumedCapacity", "TOTAL")
            calculator = counter.calculator
            targets = calculator.before(operation, params) if calculator else []
            label = getattr(_route, "label", "-")
            _route.requests = getattr(_route, "requests", 0) + 1
            entries: Counter[str] = Counter({f"req:{operation}": 1, f"route:{label}:{operation}": 1})
            try:
                response = botocore_call(client, operation, params)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "?")
                entries[f"err:{operation}:{code}"] += 1
                entries["retries"] += error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                for reason in error.response.get("CancellationReasons", []) or []:
                    if reason.get("Code") not in (None, "None"):
                        entries[f"cancel:{reason['Code']}"] += 1
                if calculator:
                    rcu, wcu = calculator.charge(operation, params, None, targets)
                    entries.update({"rcu": rcu, "wcu": wcu})
                counter.add(entries)
                raise
            entries["retries"] += response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            reported = response.get("ConsumedCapacity")
            reported_list = reported if isinstance(reported, list) else [reported] if reported else []
            moto_units: float | None = None
            if reported_list:
                moto_units = sum(float(c.get("CapacityUnits", 0)) for c in reported_list)
                entries["moto_cu"] += moto_units
            elif operation in _RETURNS_CAPACITY:
                entries["moto_cu_missing"] += 1
            if calculator:
                rcu, wcu = calculator.charge(operation, params, response, targets)
                entries.update({"rcu": rcu, "wcu": wcu})
                counter.sample(operation, params, moto_units, rcu + wcu)
            counter.add(entries)
            return response

        def counted_pynamodb(connection: Any, operation: str, params: dict[str, Any]) -> Any:
            counter.add({f"pynamodb:{operation}": 1})
            return pynamodb_call(connection, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
        Connection._make_api_call = counted_pynamodb  # type: ignore[method-assign]


def requests_of(tally: Mapping[str, float]) -> dict[str, int]:
    return {k.split(":", 1)[1]: int(v) for k, v in sorted(tally.items()) if k.startswith("req:")}


def other_aws(tally: Mapping[str, float]) -> dict[str, int]:
    """Requests to other AWS services (SQS), which the booking path may also make."""
    return {k.split(":", 1)[1]: int(v) for k, v in sorted(tally.items()) if k.startswith("aws:")}


def total_requests(tally: Mapping[str, float]) -> int:
    return sum(requests_of(tally).values())


_LITERAL_SEGMENTS = frozenset(
    {
        "health-contacts",
        "timebooks",
        "calendar",
        "slots",
        "holds",
        "appointments",
        "admin",
        "locations",
        "schedules",
        "overview",
        "cancel",
        "reschedule",
        "confirm",
        "reject",
        "ics",
        "inbox",
        "dev",
        "token",
    }
)


def route_of(method: str, path: str) -> str:
    segments = path.split("?", 1)[0].strip("/").split("/")
    return f"{method} /" + "/".join(s if s in _LITERAL_SEGMENTS else "{id}" for s in segments)


def label_requests_by_route(counter: DynamoCounter) -> None:
    """Name the route each DynamoDB request serves (the gateway runs the view on its thread)."""
    from chalicelib.local.gateway import TimebokGateway

    handle = TimebokGateway.handle_request

    def labelled(gateway: Any, method: str, path: str, headers: dict[str, Any], body: bytes | None) -> Any:
        label = _route.label = route_of(method, path)
        _route.requests = 0
        status = "error"
        try:
            result = handle(gateway, method, path, headers, body)
            status = str(result.get("statusCode", "?"))
            return result
        finally:
            counter.add({f"answer:{label} {status}": 1, f"answer_requests:{label} {status}": _route.requests})
            _route.label = "-"

    TimebokGateway.handle_request = labelled  # type: ignore[method-assign]


# ---- tokens and people -----------------------------------------------------------------------


def token_for(sub: str, role: str = "citizen", name: str = "Bench Person", **claims: Any) -> str:
    from chalicelib.http.tokens import issue_token

    return issue_token({"sub": sub, "role": role, "name": name, **claims}, os.environ["TOKEN_SECRET"])


def citizen(n: int) -> tuple[str, str, str]:
    """(pid, phone, token) of the n-th synthetic citizen."""
    from tests.factories import make_phone, make_pid

    pid = make_pid(20_000 + n)
    return pid, make_phone(20_000 + n), token_for(pid, name=f"Innbygger {n}")


# ---- 1. requests and capacity per step ---------------------------------------------------------


@dataclass
class StepRow:
    step: str
    call: str
    state: str
    status: int
    tally: Counter[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "call": self.call,
            "state": self.state,
            "status": self.status,
            "requests": total_requests(self.tally),
            "by_operation": requests_of(self.tally),
            "rcu": round(self.tally.get("rcu", 0.0), 2),
            "wcu": round(self.tally.get("wcu", 0.0), 2),
            "moto_reported_cu": round(self.tally.get("moto_cu", 0.0), 2),
            "moto_responses_without_capacity": int(self.tally.get("moto_cu_missing", 0)),
            "other_aws": other_aws(self.tally),
        }


def pin_clock_to_next_month() -> None:
    """Make "now" 06:00 on the first weekday of next month, so that the month the citizen sees is
    a whole month of slots and the numbers do not depend on the day the bench runs."""
    from datetime import UTC

    from chalicelib import clock

    today = clock.local(clock.now())
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1, hour=6, minute=0, second=0, microsecond=0)
    while first.weekday() >= 5:
        first += timedelta(days=1)
    clock.advance(first.astimezone(UTC) - clock.now())


def _first_weekday_after(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def measure_steps(counter: DynamoCounter) -> dict[str, Any]:
    from moto import mock_aws

    from chalicelib import clock, settings
    from chalicelib.booking import common
    from chalicelib.local import demo as demo_data
    from chalicelib.local import moto_patches
    from chalicelib.local.standin import create_resources
    from chalicelib.storage import repository

    moto_patches.install()
    rows: list[StepRow] = []
    with mock_aws():
        resources = create_resources(
            None, REGION, os.environ["TABLE_NAME"], "timebok-bench-events.fifo", "timebok-bench-events-dlq.fifo"
        )
        os.environ["EVENTS_QUEUE_URL"] = resources["queue_url"]
        settings.reset()  # the environment changed: read it again
        repository.reset_connections()
        common._timebooks.clear()
        pin_clock_to_next_month()
        started = time.monotonic()
        demo = demo_data.seed()  # what `make run` serves: 8 weeks of slots
        seed_seconds = time.monotonic() - started
        calculator = CapacityCalculator(MotoTables(REGION))
        counter.calculator = calculator

        from app import app
        from chalicelib.local.gateway import Client

        quiet_logs()

        client = Client(app)
        day = _first_weekday_after(clock.local(clock.now()).date())
        month = f"{day:%Y-%m}"
        people = [citizen(n) for n in range(4)]
        koronatest_answers = {q["id"]: "nei" for q in demo_data.KORONATEST_QUESTIONS}

        def run(step: str, call: str, state: str, send: Callable[[], Any]) -> Any:
            if state == "cold":
                common._timebooks.clear()
            with counter.window() as tally:
                response = send()
            rows.append(StepRow(step, call, state, response.status, tally))
            if response.status >= 400:
                print(f"  ! {call} ({state}) answered {response.status}: {response.text[:200]}", file=sys.stderr)
            return response

        def twice(step: str, call: str, send: Callable[[], Any]) -> Any:
            run(step, call, "cold", send)
            return run(step, call, "warm", send)

        tb = demo.koronatest_id
        twice("1", "GET /health-contacts", lambda: client.get("/health-contacts"))
        twice(
            "2",
            "GET /health-contacts/{id}/timebooks",
            lambda: client.get(f"/health-contacts/{demo.smittevern_id}/timebooks"),
        )
        twice("2", "GET /timebooks/{id}", lambda: client.get(f"/timebooks/{tb}"))
        twice("3", "GET /timebooks/{id}/calendar?month=", lambda: client.get(f"/timebooks/{tb}/calendar?month={month}"))
        slots = twice("4", "GET /timebooks/{id}/slots?date=", lambda: client.get(f"/timebooks/{tb}/slots?date={day}"))
        slot_ids = [s["id"] for s in slots.json["items"]]
        holds = [
            run(
                "4",
                "POST /holds {slot_id}",
                "cold",
                lambda: client.post("/holds", {"slot_id": slot_ids[0]}, token=people[0][2]),
            ),
            run(
                "4",
                "POST /holds {slot_id}",
                "warm",
                lambda: client.post("/holds", {"slot_id": slot_ids[1]}, token=people[1][2]),
            ),
            run(
                "4",
                "POST /holds {timebook_id}",
                "cold",
                lambda: client.post("/holds", {"timebook_id": tb}, token=people[2][2]),
            ),
            run(
                "4",
                "POST /holds {timebook_id}",
                "warm",
                lambda: client.post("/holds", {"timebook_id": tb}, token=people[3][2]),
            ),
        ]

        def book(n: int, idempotency: bool = False) -> Any:
            body = {"hold_id": holds[n].json["id"], "phone": people[n][1], "answers": koronatest_answers}
            headers = {"Idempotency-Key": f"bench-{n}"} if idempotency else None
            return client.post("/appointments", body, token=people[n][2], headers=headers)

        run("5", "POST /appointments {hold_id}", "cold", lambda: book(0))
        run("5", "POST /appointments {hold_id}", "warm", lambda: book(1))
        run("5", "POST /appointments {hold_id} + Idempotency-Key", "warm", lambda: book(2, idempotency=True))
        item_sizes = calculator.tables.sizes_by_kind(os.environ["TABLE_NAME"])
        counter.calculator = None
        month_slots = sum(1 for _ in repository.query_slots(tb, month))
        today = clock.local(clock.now()).date()
    clock.reset()
    return {
        "method": "computed from item sizes (moto's own ConsumedCapacity is fixed per operation; see moto column)",
        "timebook": "demo Koronatest (8 weeks of weekday slots, 20 a day, 2 places each)",
        "today": today.isoformat(),
        "day": day.isoformat(),
        "slots_in_month_partition": month_slots,
        "seed_seconds": round(seed_seconds, 2),
        "rows": [r.as_json() for r in rows],
        "moto_capacity_check": moto_capacity_check(counter.samples),
        "item_sizes": item_sizes,
    }


def moto_capacity_check(samples: list[tuple[str, float | None, float]]) -> dict[str, dict[str, Any]]:
    """Per operation: the values moto reported, against the range computed from item sizes."""
    check: dict[str, dict[str, Any]] = {}
    for kind, moto_units, computed in samples:
        entry = check.setdefault(
            kind, {"calls": 0, "moto_values": set(), "computed_min": computed, "computed_max": computed}
        )
        entry["calls"] += 1
        entry["moto_values"].add("none" if moto_units is None else f"{moto_units:g}")
        entry["computed_min"] = min(entry["computed_min"], computed)
        entry["computed_max"] = max(entry["computed_max"], computed)
    for entry in check.values():
        entry["moto_values"] = sorted(entry["moto_values"])
    return dict(sorted(check.items()))


def print_steps(result: Mapping[str, Any]) -> None:
    print("\n== 1. DynamoDB requests and capacity units per step (in-process, moto mock_aws) ==")
    print(f"capacity units: {result['method']}")
    print(
        f"timebook: {result['timebook']}; clock pinned to {result['today']} 06:00 Oslo; day {result['day']}; "
        f"{result['slots_in_month_partition']} slots in that month's partition"
    )
    header = (
        f"{'step':<4} {'call':<48} {'state':<5} {'http':>4} {'req':>4} {'RCU':>6} {'WCU':>6} {'moto CU':>7}  requests"
    )
    print(header)
    print("-" * len(header))
    for row in result["rows"]:
        ops = ", ".join(f"{op} x{n}" for op, n in row["by_operation"].items()) or "-"
        moto = f"{row['moto_reported_cu']:g}" + ("*" if row["moto_responses_without_capacity"] else "")
        others = "".join(f"; +{op} x{n}" for op, n in row["other_aws"].items())
        print(
            f"{row['step']:<4} {row['call']:<48} {row['state']:<5} {row['status']:>4} {row['requests']:>4} "
            f"{row['rcu']:>6g} {row['wcu']:>6g} {moto:>7}  {ops}{others}"
        )
    print("RCU/WCU: read/write units (on-demand: RRU/WRU) computed from item sizes, GSI writes included.")
    print("moto CU: what moto put in ConsumedCapacity; * = some responses had none (TransactWriteItems).")
    print(
        "item sizes (bytes, mean/max): "
        + ", ".join(f"{k} {v['mean_bytes']}/{v['max_bytes']}" for k, v in result["item_sizes"].items())
    )
    print("Is moto's ConsumedCapacity meaningful? Per operation, moto's values vs the computed range:")
    for kind, entry in result["moto_capacity_check"].items():
        print(
            f"  {kind:<28} {entry['calls']:>3} calls   moto: {', '.join(entry['moto_values']):<10} "
            f"computed: {entry['computed_min']:g} .. {entry['computed_max']:g}"
        )


# ---- 2. surge over HTTP --------------------------------------------------------------------------


@dataclass(frozen=True)
class SurgeSize:
    """How big one surge is (command line: --citizens, --places, --capacity, --threads)."""

    citizens: int
    places: int
    capacity: int
    threads: int

    @property
    def slots(self) -> int:
        return math.ceil(self.places / self.capacity)

    @property
    def slot_minutes(self) -> int:
        return 15 if self.slots <= 48 else 5  # one day, one location: the hottest case


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Answer:
    """What one HTTP call got: a status (0 = the client gave up: timeout or connection error)."""

    status: int
    body: Any
    headers: Mapping[str, str]
    seconds: float

    def json(self) -> Any:
        return self.body


class Http:
    """A connection per request, only to 127.0.0.1; a client timeout is an answer (status 0),
    never an exception.

    Not keep-alive: on a reused connection the local server's responses wait ~40 ms each for a
    delayed ACK (headers and body go out in two writes), which would measure the stand-in's TCP.
    """

    TIMEOUT_SECONDS = 30.0

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None, token: str | None) -> Answer:
        import requests

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.monotonic()
        try:
            response = requests.request(
                method, f"{self.base_url}{path}", json=body, headers=headers, timeout=self.TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            return Answer(0, {"client_error": type(error).__name__}, {}, time.monotonic() - started)
        try:
            parsed = response.json()
        except ValueError:
            parsed = {"text": response.text[:200]}
        return Answer(response.status_code, parsed, dict(response.headers), time.monotonic() - started)

    def get(self, path: str) -> Answer:
        return self._call("GET", path, None, None)

    def post(self, path: str, body: Mapping[str, Any], token: str) -> Answer:
        return self._call("POST", path, body, token)


def make_surge_timebook(http: Http, her_id: str, size: SurgeSize) -> tuple[str, str]:
    """A fresh timebook through the admin API: one day, one location, `size.slots` slots."""
    from chalicelib import clock
    from tests.factories import make_pid

    staff = token_for(make_pid(9000), "staff", "Bench Staff", orgs=[her_id])

    def post(path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        for _ in range(20):
            answer = http.post(path, body, staff)
            if answer.status == 201:
                return dict(answer.body)
            if answer.status not in (0, 429):
                break
            time.sleep(1.0)
        raise RuntimeError(f"set-up {path} answered {answer.status}: {str(answer.body)[:300]}")

    contact = post("/admin/health-contacts", {"organisation": "Benchkommune", "service": "Surge", "her_id": her_id})
    timebook = post(
        "/admin/timebooks",
        {
            "health_contact_id": contact["id"],
            "name": "Koronatest",
            "type": "koronatest",
            "resource": {"name": "Surge"},
            "requires_confirmation": False,
        },
    )
    location = post(f"/admin/timebooks/{timebook['id']}/locations", {"name": "Stasjon", "address": "Gaten 1"})
    day = clock.local(clock.now()).date() + timedelta(days=7)
    minutes = size.slots * size.slot_minutes
    made = post(
        f"/admin/timebooks/{timebook['id']}/schedules",
        {
            "location_id": location["id"],
            "from": day.isoformat(),
            "to": day.isoformat(),
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": f"{8 + minutes // 60:02d}:{minutes % 60:02d}",
            "slot_minutes": size.slot_minutes,
            "capacity": size.capacity,
        },
    )
    if made["created"] != size.slots:
        raise RuntimeError(f"expected {size.slots} slots, made {made['created']}")
    return timebook["id"], day.isoformat()


@dataclass
class SurgeOutcome:
    statuses: Counter[str] = field(default_factory=Counter)
    booked: list[str] = field(default_factory=list)  # slot ids of the appointments made
    booked_at: list[float] = field(default_factory=list)  # monotonic times of those bookings
    gave_up: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    retry_after_waits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, call: str, answer: Answer) -> None:
        with self.lock:
            self.statuses[f"{call} {answer.status}"] += 1
            self.latencies.setdefault(call, []).append(answer.seconds)
            if (answer.status >= 500 or answer.status == 0) and len(self.errors) < 5:
                self.errors.append(f"{call} {answer.status} {str(answer.body)[:200]}")

    def give_up(self, why: str) -> None:
        with self.lock:
            self.gave_up[why] += 1


def _no_free_time(answer: Answer) -> bool:
    """The first-available 409 that means "nothing left" (not "lost every race, try again")."""
    try:
        message = str(answer.body["error"]["message"])
    except (KeyError, TypeError):
        return False
    return message.lower().startswith("no free time")


SURGE_ATTEMPTS = 10  # per citizen, answers other than 429 and client timeouts: a citizen gives up too
SURGE_BACKOFFS = 40  # per citizen: 429s and client timeouts waited out before giving up


def _sold_out(mode: str, hold: Answer) -> bool:
    if mode == "first-available":
        return hold.status == 409 and _no_free_time(hold)
    return hold.status == 200 and hold.body == "sold out"  # the list of the day was empty


class _Citizen:
    """One citizen of a surge: hold, then book; honours Retry-After (with jitter) on 429."""

    def __init__(self, http: Http, mode: str, timebook_id: str, day: str, person: tuple[str, str, str]) -> None:
        self.http, self.mode, self.timebook_id, self.day = http, mode, timebook_id, day
        _, self.phone, self.token = person
        self.backoffs = 0

    def waited_out(self, answer: Answer, outcome: SurgeOutcome) -> bool:
        """A 429 or a client timeout: wait as told (Retry-After, jittered) and say so."""
        if answer.status not in (0, 429):
            return False
        import random

        self.backoffs += 1
        try:
            retry_after = float(answer.headers.get("Retry-After", "1"))
        except ValueError:
            retry_after = 1.0
        time.sleep(min(retry_after, 5.0) * random.uniform(0.5, 1.5))
        with outcome.lock:
            outcome.retry_after_waits += 1
        return True

    def run(self, outcome: SurgeOutcome) -> None:
        attempts = 0
        while attempts < SURGE_ATTEMPTS:
            if self.backoffs >= SURGE_BACKOFFS:
                outcome.give_up("throttled too often")
                return
            hold = self._hold(outcome)
            if hold is None:
                continue
            if self.waited_out(hold, outcome):
                continue
            attempts += 1
            if hold.status == 201:
                if self._book(hold.body["id"], outcome):
                    return
            elif _sold_out(self.mode, hold):
                outcome.give_up("sold out")
                return
        outcome.give_up("attempts used up")

    def _hold(self, outcome: SurgeOutcome) -> Answer | None:
        if self.mode == "first-available":
            hold = self.http.post("/holds", {"timebook_id": self.timebook_id}, self.token)
            outcome.saw("POST /holds {timebook_id}", hold)
            return hold
        listed = self.http.get(f"/timebooks/{self.timebook_id}/slots?date={self.day}")
        outcome.saw("GET /slots", listed)
        if self.waited_out(listed, outcome):
            return None
        items = listed.body.get("items", []) if listed.status == 200 else []
        if listed.status == 200 and not items:
            return Answer(200, "sold out", {}, 0.0)
        if not items:
            return None
        hold = self.http.post("/holds", {"slot_id": items[0]["id"]}, self.token)
        outcome.saw("POST /holds {slot_id}", hold)
        return hold

    def _book(self, hold_id: str, outcome: SurgeOutcome) -> bool:
        body = {"hold_id": hold_id, "phone": self.phone, "answers": {}}
        while self.backoffs < SURGE_BACKOFFS:
            made = self.http.post("/appointments", body, self.token)
            outcome.saw("POST /appointments", made)
            if self.waited_out(made, outcome):
                continue  # the hold lives on: the same booking again
            if made.status == 201:
                with outcome.lock:
                    outcome.booked.append(made.body["slot_id"])
                    outcome.booked_at.append(time.monotonic())
                return True
            return False
        return False


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _ms(seconds: float | None) -> float:
    return round(1000 * (seconds or 0.0), 1)


def check_table(timebook_id: str, day: str, size: SurgeSize) -> dict[str, Any]:
    """The invariants from the table itself (not from what clients were told): places given,
    none twice (two active appointments on one place, or more claims than a slot has places)."""
    from chalicelib.storage import repository

    slots = repository.slots_of_day(timebook_id, date.fromisoformat(day), consistent=True)
    claims = [(s.slot_id, place, c) for s in slots for place, c in s.claims.items()]
    given = [c for c in claims if c[2].kind == "appointment"]
    appointments = [a for a in repository.appointments_of_timebook(timebook_id) if a.status in ("booked", "requested")]
    per_place = Counter((a.slot_id, int(a.place)) for a in appointments)
    over = [s.slot_id for s in slots if sum(1 for c in claims if c[0] == s.slot_id) > int(s.capacity)]
    return {
        "slots": len(slots),
        "places_given": len(given),
        "active_appointments": len(appointments),
        "double_gives": sum(n - 1 for n in per_place.values() if n > 1) + len(over),
    }


def run_surge(http: Http, counter: DynamoCounter, mode: str, her_id: str, size: SurgeSize, run: int) -> dict[str, Any]:
    timebook_id, day = make_surge_timebook(http, her_id, size)
    people = [citizen(100_000 * run + n) for n in range(size.citizens)]
    outcome = SurgeOutcome()
    standin = counter.standin
    shed_before = standin.app.shed if standin is not None and standin.app is not None else 0
    with counter.window() as tally:
        started = time.monotonic()
        with ThreadPoolExecutor(size.threads) as pool:
            list(pool.map(lambda p: _Citizen(http, mode, timebook_id, day, p).run(outcome), people))
        wall = time.monotonic() - started
    shed = (standin.app.shed if standin is not None and standin.app is not None else 0) - shed_before
    table = check_table(timebook_id, day, size)
    booked = len(outcome.booked)
    hold_conflicts = int(sum(v for k, v in tally.items() if k == "err:UpdateItem:ConditionalCheckFailedException"))
    booking_cancels = int(tally.get("err:TransactWriteItems:TransactionCanceledException", 0))
    requests = total_requests(tally)
    by_route: dict[str, dict[str, int]] = {}
    for key, value in sorted(tally.items()):
        if key.startswith("route:"):
            _, route, operation = key.split(":")
            by_route.setdefault(route, {})[operation] = int(value)
    sold_out = max(outcome.booked_at) - started if outcome.booked_at else None
    statuses = outcome.statuses
    all_latencies = [s for values in outcome.latencies.values() for s in values]

    def per_booking(value: float) -> float | None:
        return round(value / booked, 2) if booked else None

    def count(predicate: Callable[[int], bool]) -> int:
        return sum(n for k, n in statuses.items() if predicate(int(k.rsplit(" ", 1)[1])))

    result = {
        "mode": mode,
        "run": run,
        "citizens": size.citizens,
        "places": size.places,
        "slots": size.slots,
        "capacity": size.capacity,
        "threads": size.threads,
        "booked": booked,
        "places_given_in_table": table["places_given"],
        "double_gives": table["double_gives"],
        "http_5xx": count(lambda s: s >= 500),
        "http_429": count(lambda s: s == 429),
        "client_timeouts": count(lambda s: s == 0),
        "retry_after_waits": outcome.retry_after_waits,
        "standin_shed": shed,
        "http_statuses": dict(sorted(statuses.items())),
        "gave_up": dict(outcome.gave_up),
        "server_errors": outcome.errors,
        "hold_condition_failures": hold_conflicts,
        "booking_transactions_cancelled": booking_cancels,
        "cancellation_reasons": {k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("cancel:")},
        "lost_races_per_booking": per_booking(hold_conflicts + booking_cancels),
        "dynamodb_requests": requests,
        "dynamodb_requests_per_booking": per_booking(requests),
        "rcu_per_booking": per_booking(tally.get("rcu", 0.0)),
        "wcu_per_booking": per_booking(tally.get("wcu", 0.0)),
        "dynamodb_requests_by_operation": requests_of(tally),
        "dynamodb_requests_by_route": by_route,
        "dynamodb_errors": {k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("err:")},
        "botocore_retries": int(tally.get("retries", 0)),
        "other_aws": other_aws(tally),
        "refused_non_local_requests": {
            k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("refused:")
        },
        "latency_p50_ms": _ms(_percentile(all_latencies, 0.5)),
        "latency_p95_ms": _ms(_percentile(all_latencies, 0.95)),
        "latency_by_call_ms": {
            call: {"p50": _ms(_percentile(v, 0.5)), "p95": _ms(_percentile(v, 0.95))}
            for call, v in sorted(outcome.latencies.items())
        },
        "wall_seconds": round(wall, 2),
        "last_booking_seconds": round(sold_out, 2) if sold_out is not None else None,
        "bookings_per_second": round(booked / sold_out, 1) if sold_out else None,
    }
    result["failed_checks"] = surge_failures(result)
    return result


def surge_failures(s: Mapping[str, Any]) -> list[str]:
    """The invariants a surge must keep; no wall-clock deadline (a slow machine is not a failure)."""
    failed = []
    if s["places_given_in_table"] != s["places"] or s["booked"] != s["places"]:
        failed.append(f"places given {s['places_given_in_table']} (told {s['booked']}) of {s['places']}")
    if s["double_gives"]:
        failed.append(f"{s['double_gives']} places given twice")
    if s["http_5xx"]:
        failed.append(f"{s['http_5xx']} answers 5xx")
    if s["refused_non_local_requests"]:
        failed.append(f"non-local AWS requests {s['refused_non_local_requests']}")
    return failed


def quiet_logs() -> None:
    """Importing app configures logging at INFO; in a surge its warnings (409s, 429s, urllib3's
    pool being outgrown by the threads) would bury the tables. 5xx are kept by the bench."""
    logging.getLogger().setLevel(logging.ERROR)
    for name in ("urllib3", "botocore", "timebok"):
        logging.getLogger(name).setLevel(logging.ERROR)


def forget_aws_clients() -> None:
    """Clients made under mock_aws point at AWS's real endpoints: drop every cached one."""
    from chalicelib.local import stream
    from chalicelib.messaging import publisher
    from chalicelib.storage import repository

    repository.reset_connections()
    publisher.reset_default_publisher()
    stream.reset()  # the stream relay's reader (tests' and the runner's)


def measure_surges(counter: DynamoCounter, size: SurgeSize, modes: list[str], repeat: int) -> list[dict[str, Any]]:
    from chalicelib.booking import common
    from chalicelib.local import runner
    from chalicelib.local.standin import _MOTO_LOCK

    quiet_logs()
    os.environ.pop("AWS_ENDPOINT_URL", None)
    forget_aws_clients()
    stack = runner.start(free_port(), seed=False, workers=False)
    counter.local_endpoint = stack.endpoint_url
    counter.standin = stack.standin
    counter.calculator = CapacityCalculator(MotoTables(REGION, lock=_MOTO_LOCK))
    surges = []
    try:
        common._timebooks.clear()
        http = Http(stack.api_url)
        for run in range(repeat):
            for index, mode in enumerate(modes):
                load = round(os.getloadavg()[0], 2)
                surge = run_surge(http, counter, mode, f"71{run:02d}{index}", size, 1 + run * len(modes) + index)
                surge["load_average_1min_at_start"] = load
                surges.append(surge)
                print(
                    f"  surge {mode} #{run + 1}: {surge['booked']}/{surge['places']} booked, "
                    f"{surge['lost_races_per_booking']} lost races/booking, {surge['http_5xx']} 5xx, "
                    f"{surge['http_429']} 429, {surge['wall_seconds']} s",
                    flush=True,
                )
        return surges
    finally:
        counter.local_endpoint = None
        counter.standin = None
        counter.calculator = None
        stack.stop()


SUMMARY_ROWS: list[tuple[str, str]] = [
    ("bookings made", "booked"),
    ("places given (from the table)", "places_given_in_table"),
    ("double gives", "double_gives"),
    ("lost races per booking", "lost_races_per_booking"),
    ("hold condition failures", "hold_condition_failures"),
    ("booking transactions cancelled", "booking_transactions_cancelled"),
    ("DynamoDB requests per booking", "dynamodb_requests_per_booking"),
    ("RCU per booking", "rcu_per_booking"),
    ("WCU per booking", "wcu_per_booking"),
    ("answers 5xx", "http_5xx"),
    ("answers 429", "http_429"),
    ("client timeouts", "client_timeouts"),
    ("stand-in requests shed", "standin_shed"),
    ("botocore retries", "botocore_retries"),
    ("latency p50 (ms, all calls)", "latency_p50_ms"),
    ("latency p95 (ms, all calls)", "latency_p95_ms"),
    ("wall time (s)", "wall_seconds"),
    ("last booking after (s)", "last_booking_seconds"),
]


def _spread(values: list[Any]) -> str:
    numbers = [v for v in values if isinstance(v, int | float)]
    if not numbers:
        return "-"
    low, mid, high = min(numbers), statistics.median(numbers), max(numbers)
    return f"{low:g} / {mid:g} / {high:g}"


def print_surges(surges: list[Mapping[str, Any]]) -> None:
    first = surges[0]
    print(
        f"\n== 2. Surge: {first['citizens']} citizens for {first['places']} places ({first['slots']} slots x "
        f"{first['capacity']}, one day, one location), {first['threads']} threads over HTTP, live local stack =="
    )
    print(
        "(the local stand-in serialises every AWS request and sheds what it cannot serve in time; times are "
        f"its own, counts are what matter. {os.cpu_count()} CPUs.)"
    )
    for mode in dict.fromkeys(s["mode"] for s in surges):
        runs = [s for s in surges if s["mode"] == mode]
        print(f"\n[{mode}] {len(runs)} run(s); min / median / max")
        for title, key in SUMMARY_ROWS:
            print(f"  {title:<36}{_spread([s[key] for s in runs]):>28}")
        for s in runs:
            print(f"  run {s['run']}: HTTP statuses: " + ", ".join(f"{k}: {v}" for k, v in s["http_statuses"].items()))
            print(f"  run {s['run']}: gave up: {s['gave_up']}; DynamoDB errors: {s['dynamodb_errors'] or 'none'}")
            for route, operations in s["dynamodb_requests_by_route"].items():
                listed = ", ".join(f"{k} {v}" for k, v in operations.items())
                print(f"  run {s['run']}: DynamoDB requests of {route}: {listed}")
            print(
                f"  run {s['run']}: latency by call (ms p50/p95): "
                + "; ".join(f"{c} {v['p50']}/{v['p95']}" for c, v in s["latency_by_call_ms"].items())
            )
            for line in s["server_errors"]:
                print(f"  run {s['run']}: error answer: {line}")
            for failure in s["failed_checks"]:
                print(f"  run {s['run']}: CHECK FAILED: {failure}")


# ---- 3. import time ------------------------------------------------------------------------------


def _import_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(local_stage_environment())
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the runs should read bytecode, as Lambda does
    return env


def _timed_run(code: str, env: Mapping[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a fresh interpreter; CPU time is steadier on a busy machine."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(env), check=True, capture_output=True)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def measure_import() -> dict[str, Any]:
    env = _import_env()
    _timed_run("import app", env)  # compile bytecode once; every measured run then reads .pyc
    app_runs, bare_runs = [], []
    for _ in range(IMPORT_RUNS):
        bare_runs.append(_timed_run("pass", env))
        app_runs.append(_timed_run("import app", env))
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    entries = []
    for line in traced.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if match:
            entries.append(
                {
                    "module": match[4],
                    "self_ms": int(match[1]) / 1000,
                    "cumulative_ms": int(match[2]) / 1000,
                    "depth": (len(match[3]) - 1) // 2,
                }
            )
    top = sorted((e for e in entries if e["module"] != "app"), key=lambda e: -e["cumulative_ms"])[:8]
    app_entry = next((e for e in entries if e["module"] == "app"), None)
    wall_app, wall_bare = _median_ms([w for w, _ in app_runs]), _median_ms([w for w, _ in bare_runs])
    cpu_app, cpu_bare = _median_ms([c for _, c in app_runs]), _median_ms([c for _, c in bare_runs])
    return {
        "runs": IMPORT_RUNS,
        "python_pass_median_ms": wall_bare,
        "import_app_median_ms": wall_app,
        "app_import_ms": round(wall_app - wall_bare, 1),
        "python_pass_cpu_median_ms": cpu_bare,
        "import_app_cpu_median_ms": cpu_app,
        "app_import_cpu_ms": round(cpu_app - cpu_bare, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "importtime_app_cumulative_ms": app_entry["cumulative_ms"] if app_entry else None,
        "top_cumulative": top,
    }


def print_import(result: Mapping[str, Any]) -> None:
    print(f"\n== 3. Import time of app.py (median of {result['runs']} fresh interpreters, local stage env) ==")
    print(
        f"wall: python -c 'import app' {result['import_app_median_ms']} ms - python -c 'pass' "
        f"{result['python_pass_median_ms']} ms = app.py {result['app_import_ms']} ms"
    )
    print(
        f"CPU:  python -c 'import app' {result['import_app_cpu_median_ms']} ms - python -c 'pass' "
        f"{result['python_pass_cpu_median_ms']} ms = app.py {result['app_import_cpu_ms']} ms "
        f"(load average {result['load_average_1min']} on {os.cpu_count()} CPUs)"
    )
    print(f"-X importtime: app cumulative {result['importtime_app_cumulative_ms']} ms; top 8 modules by cumulative:")
    print(f"  {'module':<50} {'cumulative ms':>13} {'self ms':>8}")
    for entry in result["top_cumulative"]:
        print(f"  {entry['module']:<50} {entry['cumulative_ms']:>13.1f} {entry['self_ms']:>8.1f}")


# ---- 4. package size ---------------------------------------------------------------------------


def measure_package() -> dict[str, Any]:
    package = BUILD / "deployment.zip"
    if not package.exists():
        return {"present": False, "message": "package: run make package first"}
    with zipfile.ZipFile(package) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        files = len(archive.infolist())
    return {"present": True, "zipped_bytes": package.stat().st_size, "unzipped_bytes": unzipped, "files": files}


def print_package(result: Mapping[str, Any]) -> None:
    print("\n== 4. Package size ==")
    if not result["present"]:
        print(result["message"])
        return
    print(
        f"build/deployment.zip: {result['zipped_bytes'] / 1e6:.2f} MB zipped, "
        f"{result['unzipped_bytes'] / 1e6:.2f} MB unzipped, {result['files']} files "
        "(Lambda limit: 50 MB zipped, 250 MB unzipped)"
    )


# ---- main ----------------------------------------------------------------------------------------


def counting_check(counter: DynamoCounter) -> dict[str, Any]:
    """Did PynamoDB's level and botocore's level see the same requests?"""
    values = counter.snapshot()
    botocore_total = sum(int(v) for k, v in values.items() if k.startswith("req:"))
    pynamodb_total = sum(int(v) for k, v in values.items() if k.startswith("pynamodb:"))
    return {
        "counted_at": "botocore.client.BaseClient._make_api_call, service dynamodb",
        "botocore_requests": botocore_total,
        "pynamodb_requests": pynamodb_total,
        "pynamodb_transact_write_items": int(values.get("pynamodb:TransactWriteItems", 0)),
        "botocore_transact_write_items": int(values.get("req:TransactWriteItems", 0)),
        "note": "botocore's count also includes the boto3 client that creates the table (CreateTable etc.)",
    }


def measure_import_ratio() -> dict[str, Any] | None:
    """scripts/import_ratio.py's own measurement, when that script exists (issue 9's tooling)."""
    if not (ROOT / "scripts" / "import_ratio.py").exists():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_ratio", ROOT / "scripts" / "import_ratio.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.measure())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="What Timebok costs in DynamoDB, and how it takes a surge.")
    parser.add_argument("--places", type=int, default=DEFAULT_PLACES, help="places in the surge's one day")
    parser.add_argument(
        "--citizens", type=int, default=None, help=f"citizens in a surge (default {CITIZENS_PER_PLACE}x places)"
    )
    parser.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY, help="places per slot")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="concurrent HTTP clients")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="runs of each surge")
    parser.add_argument(
        "--modes",
        default="first-available",
        help="comma-separated: first-available (POST /holds {timebook_id}), earliest-slot (list, hold the first)",
    )
    parser.add_argument(
        "--parts", default="steps,surge,import,package", help="comma-separated: steps, surge, import, package"
    )
    args = parser.parse_args(argv)
    if args.citizens is None:
        args.citizens = CITIZENS_PER_PLACE * args.places
    if min(args.places, args.citizens, args.capacity, args.threads, args.repeat) < 1:
        parser.error("sizes must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    parts = set(args.parts.split(","))
    started = time.monotonic()
    logging.basicConfig(level=logging.ERROR)
    counter = DynamoCounter()
    counter.install()
    label_requests_by_route(counter)
    results: dict[str, Any] = {"arguments": vars(args)}
    failed: list[str] = []

    if "steps" in parts:
        results["steps"] = measure_steps(counter)
        print_steps(results["steps"])
    if "surge" in parts:
        size = SurgeSize(args.citizens, args.places, args.capacity, args.threads)
        results["surge"] = measure_surges(counter, size, args.modes.split(","), args.repeat)
        print_surges(results["surge"])
        failed += [f"surge {s['mode']} run {s['run']}: {f}" for s in results["surge"] for f in s["failed_checks"]]
    if "import" in parts:
        results["import"] = measure_import()
        print_import(results["import"])
        ratio = measure_import_ratio()
        if ratio is not None:
            results["import_ratio"] = ratio
            print("import ratio (scripts/import_ratio.py): " + json.dumps(ratio, ensure_ascii=False))
    if "package" in parts:
        results["package"] = measure_package()
        print_package(results["package"])
    results["counting"] = counting_check(counter)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    check = results["counting"]
    print(
        f"\ncounted at {check['counted_at']}: {check['botocore_requests']} requests "
        f"({check['pynamodb_requests']} through PynamoDB, TransactWriteItems {check['pynamodb_transact_write_items']}"
        f"/{check['botocore_transact_write_items']}); bench took {results['total_seconds']} s"
    )
    BUILD.mkdir(exist_ok=True)
    (BUILD / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {(BUILD / 'bench.json').relative_to(ROOT)}")
    for failure in failed:
        print(f"CHECK FAILED: {failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
