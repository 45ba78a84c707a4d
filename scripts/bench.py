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

import base64
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

SURGE_THREADS = 32
SURGE_SLOTS = 20
SURGE_CAPACITY = 2
SURGE_CITIZENS_PER_PLACE = 10
SURGE_ATTEMPTS = 10  # per citizen: bounded, a real citizen gives up too
SURGE_DEADLINE_SECONDS = 60.0  # per surge; citizens stop trying after it
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

    def __init__(self, region: str) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]

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
        try:
            found = table.get_item(hash_value, range_value)
        except Exception:
            return None
        return found.to_json()["Attributes"] if found is not None else None

    def sizes_by_kind(self, table_name: str) -> dict[str, dict[str, int]]:
        """Item sizes by the kind of item (the pk's prefix: TB, HC, AP, OUTBOX; slots as SLOT)."""
        sizes: dict[str, list[int]] = {}
        for found in self._table(table_name).all_items():
            item = found.to_json()["Attributes"]
            pk = str(item.get("pk", {}).get("S", "?"))
            kind = "SLOT" if "#M#" in pk else pk.split("#", 1)[0]
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Http:
    """A connection per request, only to 127.0.0.1.

    Not keep-alive: on a reused connection the local server's responses wait ~40 ms each for a
    delayed ACK (headers and body go out in two writes), which would measure the stand-in's TCP.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def get(self, path: str) -> Any:
        import requests

        return requests.get(f"{self.base_url}{path}", timeout=30)

    def post(self, path: str, body: Mapping[str, Any], token: str) -> Any:
        import requests

        return requests.post(
            f"{self.base_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


def make_surge_timebook(http: Http, her_id: str) -> tuple[str, str]:
    """A fresh timebook through the admin API: SURGE_SLOTS slots x SURGE_CAPACITY places, one day."""
    from chalicelib import clock
    from tests.factories import make_pid

    staff = token_for(make_pid(9000), "staff", "Bench Staff", orgs=[her_id])

    def post(path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = http.post(path, body, staff)
        if response.status_code != 201:
            raise RuntimeError(f"set-up {path} answered {response.status_code}: {response.text[:300]}")
        return dict(response.json())

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
    minutes = SURGE_SLOTS * 15
    made = post(
        f"/admin/timebooks/{timebook['id']}/schedules",
        {
            "location_id": location["id"],
            "from": day.isoformat(),
            "to": day.isoformat(),
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "start_time": "08:00",
            "end_time": f"{8 + minutes // 60:02d}:{minutes % 60:02d}",
            "slot_minutes": 15,
            "capacity": SURGE_CAPACITY,
        },
    )
    if made["created"] != SURGE_SLOTS:
        raise RuntimeError(f"expected {SURGE_SLOTS} slots, made {made['created']}")
    return timebook["id"], day.isoformat()


@dataclass
class SurgeOutcome:
    statuses: Counter[str] = field(default_factory=Counter)
    booked: list[str] = field(default_factory=list)  # slot ids of the appointments made
    booked_at: list[float] = field(default_factory=list)  # monotonic times of those bookings
    gave_up: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, call: str, response: Any) -> None:
        with self.lock:
            self.statuses[f"{call} {response.status_code}"] += 1
            if response.status_code >= 500 and len(self.errors) < 5:
                self.errors.append(f"{call} {response.status_code} {response.text[:200]}")


def _no_free_time(response: Any) -> bool:
    """The first-available 409 that means "nothing left" (not "lost every race, try again")."""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return False
    return message.lower().startswith("no free time")


def _surge_citizen(
    http: Http,
    mode: str,
    timebook_id: str,
    day: str,
    person: tuple[str, str, str],
    outcome: SurgeOutcome,
    deadline: float,
) -> None:
    """One citizen: hold (first available, or the earliest slot listed), then book; bounded retries."""
    _, phone, token = person
    slots_path = f"/timebooks/{timebook_id}/slots?date={day}"
    for _ in range(SURGE_ATTEMPTS):
        if time.monotonic() > deadline:
            with outcome.lock:
                outcome.gave_up["deadline"] += 1
            return
        if mode == "first-available":
            hold = http.post("/holds", {"timebook_id": timebook_id}, token)
            outcome.saw("POST /holds {timebook_id}", hold)
        else:
            listed = http.get(slots_path)
            outcome.saw("GET /slots", listed)
            items = listed.json().get("items", []) if listed.status_code == 200 else []
            if listed.status_code == 200 and not items:
                with outcome.lock:
                    outcome.gave_up["sold out"] += 1
                return
            if not items:
                continue
            hold = http.post("/holds", {"slot_id": items[0]["id"]}, token)
            outcome.saw("POST /holds {slot_id}", hold)
        if hold.status_code == 201:
            made = http.post("/appointments", {"hold_id": hold.json()["id"], "phone": phone, "answers": {}}, token)
            outcome.saw("POST /appointments", made)
            if made.status_code == 201:
                with outcome.lock:
                    outcome.booked.append(made.json()["slot_id"])
                    outcome.booked_at.append(time.monotonic())
                return
        elif hold.status_code == 429:
            time.sleep(min(float(hold.headers.get("Retry-After", "1")), 2.0))
        elif hold.status_code == 409 and mode == "first-available" and _no_free_time(hold):
            with outcome.lock:
                outcome.gave_up["sold out"] += 1
            return
    with outcome.lock:
        outcome.gave_up["attempts used up"] += 1


def run_surge(http: Http, counter: DynamoCounter, mode: str, her_id: str) -> dict[str, Any]:
    timebook_id, day = make_surge_timebook(http, her_id)
    places = SURGE_SLOTS * SURGE_CAPACITY
    people = [
        citizen(1000 * (2 if mode == "first-available" else 3) + n) for n in range(places * SURGE_CITIZENS_PER_PLACE)
    ]
    outcome = SurgeOutcome()
    deadline = time.monotonic() + SURGE_DEADLINE_SECONDS
    with counter.window() as tally:
        started = time.monotonic()
        with ThreadPoolExecutor(SURGE_THREADS) as pool:
            list(pool.map(lambda p: _surge_citizen(http, mode, timebook_id, day, p, outcome, deadline), people))
        wall = time.monotonic() - started
    left = http.get(f"/timebooks/{timebook_id}/slots?date={day}").json().get("items", [])
    booked = len(outcome.booked)
    per_slot = Counter(outcome.booked)
    hold_conflicts = int(sum(v for k, v in tally.items() if k == "err:UpdateItem:ConditionalCheckFailedException"))
    booking_cancels = int(tally.get("err:TransactWriteItems:TransactionCanceledException", 0))
    requests = total_requests(tally)
    by_route: dict[str, dict[str, int]] = {}
    for key, value in sorted(tally.items()):
        if key.startswith("route:"):
            _, route, operation = key.split(":")
            by_route.setdefault(route, {})[operation] = int(value)
    sold_out = max(outcome.booked_at) - started if outcome.booked_at else None
    by_answer: dict[str, dict[str, float]] = {}
    for key, value in sorted(tally.items()):
        if key.startswith("answer:"):
            answer = key.split(":", 1)[1]
            made = tally.get(f"answer_requests:{answer}", 0)
            by_answer[answer] = {"answers": int(value), "requests": int(made), "per_answer": round(made / value, 2)}

    def per_booking(value: float) -> float | None:
        return round(value / booked, 2) if booked else None

    return {
        "mode": mode,
        "citizens": len(people),
        "places": places,
        "threads": SURGE_THREADS,
        "booked": booked,
        "booked_equals_places": booked == places,
        "overbooked_slots": sorted(s for s, n in per_slot.items() if n > SURGE_CAPACITY),
        "places_left_after": sum(int(s["free"]) for s in left),
        "http_statuses": dict(sorted(outcome.statuses.items())),
        "gave_up": dict(outcome.gave_up),
        "server_errors": outcome.errors,
        "hold_condition_failures": hold_conflicts,
        "booking_transactions_cancelled": booking_cancels,
        "cancellation_reasons": {k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("cancel:")},
        "hold_condition_failures_per_booking": per_booking(hold_conflicts),
        "booking_cancellations_per_booking": per_booking(booking_cancels),
        "dynamodb_requests": requests,
        "dynamodb_requests_per_booking": per_booking(requests),
        "dynamodb_requests_by_operation": requests_of(tally),
        "dynamodb_requests_by_route": by_route,
        "dynamodb_requests_by_answer": by_answer,
        "other_aws": other_aws(tally),
        "dynamodb_errors": {k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("err:")},
        "botocore_retries": int(tally.get("retries", 0)),
        "refused_non_local_requests": {
            k.split(":", 1)[1]: int(v) for k, v in tally.items() if k.startswith("refused:")
        },
        "wall_seconds": round(wall, 2),
        "last_booking_seconds": round(sold_out, 2) if sold_out is not None else None,
        "bookings_per_second": round(booked / sold_out, 1) if sold_out else None,
    }


def quiet_logs() -> None:
    """Importing app configures logging at INFO; in a surge its warnings (409s, urllib3's pool of
    10 connections being outgrown by 32 threads) would bury the tables. 5xx are kept by the bench."""
    logging.getLogger().setLevel(logging.ERROR)
    for name in ("urllib3", "botocore", "timebok"):
        logging.getLogger(name).setLevel(logging.ERROR)


def forget_aws_clients() -> None:
    """Clients made under mock_aws point at AWS's real endpoints: drop every cached one."""
    from chalicelib.booking import events
    from chalicelib.messaging import publisher
    from chalicelib.storage import repository

    repository.reset_connections()
    publisher.reset_default_publisher()
    if hasattr(events, "_publisher"):
        events._publisher = None  # publish_now's own cache (see docs/bench.md)


def measure_surges(counter: DynamoCounter) -> list[dict[str, Any]]:
    from chalicelib.booking import common
    from chalicelib.local import runner

    quiet_logs()
    os.environ.pop("AWS_ENDPOINT_URL", None)
    forget_aws_clients()
    stack = runner.start(free_port(), seed=False, workers=False)
    load = round(os.getloadavg()[0], 2)
    counter.local_endpoint = stack.endpoint_url
    try:
        common._timebooks.clear()
        http = Http(stack.api_url)
        surges = [
            run_surge(http, counter, "first-available", "7101"),
            run_surge(http, counter, "earliest-slot", "7102"),
        ]
        for surge in surges:
            surge["load_average_1min_at_start"] = load
        return surges
    finally:
        counter.local_endpoint = None
        stack.stop()


def print_surges(surges: list[Mapping[str, Any]]) -> None:
    first = surges[0]
    print(
        f"\n== 2. Surge: {first['citizens']} citizens for {first['places']} places "
        f"({SURGE_SLOTS} slots x {SURGE_CAPACITY}), {first['threads']} threads over HTTP, live local stack =="
    )
    print(
        f"(times are the local stand-in's, which serialises every AWS request; load average at start "
        f"{first['load_average_1min_at_start']} on {os.cpu_count()} CPUs. Counts are what matter.)"
    )
    rows: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = [
        ("bookings made (must equal places)", lambda s: f"{s['booked']} / {s['places']}"),
        ("places left free afterwards", lambda s: s["places_left_after"]),
        ("hold UpdateItem condition failures", lambda s: s["hold_condition_failures"]),
        ("  per successful booking", lambda s: s["hold_condition_failures_per_booking"]),
        ("booking TransactWriteItems cancelled", lambda s: s["booking_transactions_cancelled"]),
        ("  per successful booking", lambda s: s["booking_cancellations_per_booking"]),
        ("DynamoDB requests", lambda s: s["dynamodb_requests"]),
        ("  per successful booking", lambda s: s["dynamodb_requests_per_booking"]),
        ("botocore retries", lambda s: s["botocore_retries"]),
        ("wall time, all citizens done (s)", lambda s: s["wall_seconds"]),
        ("last booking made after (s)", lambda s: s["last_booking_seconds"]),
        ("bookings/s (until the last booking)", lambda s: s["bookings_per_second"]),
    ]
    names = [s["mode"] for s in surges]
    print(f"{'':<40}" + "".join(f"{n:>18}" for n in names))
    for title, value in rows:
        print(f"{title:<40}" + "".join(f"{value(s)!s:>18}" for s in surges))
    for s in surges:
        print(f"\n[{s['mode']}] HTTP statuses: " + ", ".join(f"{k}: {v}" for k, v in s["http_statuses"].items()))
        print(f"[{s['mode']}] citizens who gave up: {s['gave_up']}")
        for route, operations in s["dynamodb_requests_by_route"].items():
            print(
                f"[{s['mode']}] DynamoDB requests of {route}: " + ", ".join(f"{k} {v}" for k, v in operations.items())
            )
        answers = s["dynamodb_requests_by_answer"].items()
        print(
            f"[{s['mode']}] DynamoDB requests per HTTP answer: "
            + "; ".join(f"{a}: {v['answers']} x {v['per_answer']:g} = {v['requests']}" for a, v in answers)
        )
        if s["other_aws"]:
            print(f"[{s['mode']}] other AWS requests: {s['other_aws']}")
        print(f"[{s['mode']}] DynamoDB errors: {s['dynamodb_errors'] or 'none'}")
        if s["refused_non_local_requests"]:
            print(f"[{s['mode']}] REFUSED non-local AWS requests: {s['refused_non_local_requests']}")
        if s["overbooked_slots"] or not s["booked_equals_places"]:
            print(
                f"[{s['mode']}] CHECK FAILED: booked {s['booked']} of {s['places']}, overbooked {s['overbooked_slots']}"
            )
        for line in s["server_errors"]:
            print(f"[{s['mode']}] 5xx: {line}")


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


def main() -> int:
    started = time.monotonic()
    logging.basicConfig(level=logging.ERROR)
    counter = DynamoCounter()
    counter.install()
    label_requests_by_route(counter)
    results: dict[str, Any] = {}

    results["steps"] = measure_steps(counter)
    print_steps(results["steps"])
    results["surge"] = measure_surges(counter)
    print_surges(results["surge"])
    results["import"] = measure_import()
    print_import(results["import"])
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
