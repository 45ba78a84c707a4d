"""Part 1: DynamoDB requests and capacity units per step of the citizen's flow (steps 1-5), cold and
warm, in-process on moto (`mock_aws`) through the local gateway.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

# ---- 1. requests and capacity per step ---------------------------------------------------------
from typing import Any

from scripts.bench.capacity import PARTITION_BOOKINGS_PER_SECOND, CapacityCalculator, MotoTables, partition_loads
from scripts.bench.common import REGION, citizen, quiet_logs
from scripts.bench.counter import DynamoCounter, other_aws, requests_of, total_requests


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
    from chalicelib.local.resources import create_resources
    from chalicelib.storage import keys, repository

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
        month_summary_bytes = calculator.tables.partition_bytes(
            os.environ["TABLE_NAME"], keys.summary_partition(tb, month)
        )
        appointment_shards = len(keys.appointments_of_timebook_all(tb))
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
        "month_summary_bytes": month_summary_bytes,
        "appointment_shards": appointment_shards,
        "partition_loads": [
            {"what": load.what, "units_per_second": round(load.units_per_second, 1), "share": round(load.share, 3)}
            for load in partition_loads(
                PARTITION_BOOKINGS_PER_SECOND,
                month_summary_bytes=month_summary_bytes,
                appointment_bytes=item_sizes.get("AP", {}).get("max_bytes", 0),
                appointment_shards=appointment_shards,
            )
        ],
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
    print(
        f"Partitions at {PARTITION_BOOKINGS_PER_SECOND:,} bookings/s of one timebook-day (docs/capacity.md), from "
        f"these sizes (month's summaries {result['month_summary_bytes']:,} B, {result['appointment_shards']} "
        "staff index shards):"
    )
    for load in result["partition_loads"]:
        print(f"  {load['what']:<60} {load['units_per_second']:>8g} units/s {load['share']:>7.1%} of a partition")
