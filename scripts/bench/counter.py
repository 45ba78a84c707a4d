"""Counting every DynamoDB request the process makes, by operation and by the route it serves."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# ---- the counter: every DynamoDB request the process makes -------------------------------------
from typing import Any

from scripts.bench.capacity import _RETURNS_CAPACITY, CapacityCalculator, partition_keys

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
                    entries.update(_per_key(operation, params, rcu, wcu))
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
                entries.update(_per_key(operation, params, rcu, wcu))
                counter.sample(operation, params, moto_units, rcu + wcu)
            counter.add(entries)
            return response

        def counted_pynamodb(connection: Any, operation: str, params: dict[str, Any]) -> Any:
            counter.add({f"pynamodb:{operation}": 1})
            return pynamodb_call(connection, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
        Connection._make_api_call = counted_pynamodb  # type: ignore[method-assign]


def _per_key(operation: str, params: Mapping[str, Any], rcu: float, wcu: float) -> Counter[str]:
    """A request's units on each partition key it touched (shared evenly: the partition model)."""
    keys = partition_keys(operation, params)
    shares: Counter[str] = Counter()
    for key in keys:
        shares[f"key:{key}:rcu"] += rcu / len(keys)
        shares[f"key:{key}:wcu"] += wcu / len(keys)
    return shares


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
