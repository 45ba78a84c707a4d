"""`make bench`: `python -m scripts.bench [--citizens N --places N --repeat N --parts ...]` (or
`python scripts/bench`); the parts are measured in this order and written to build/bench.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python scripts/bench`: the repository's root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.common import (
    BUILD,
    CITIZENS_PER_PLACE,
    DEFAULT_CAPACITY,
    DEFAULT_PLACES,
    DEFAULT_REPEAT,
    DEFAULT_THREADS,
    ROOT,
    use_local_stage,
)
from scripts.bench.counter import DynamoCounter, label_requests_by_route
from scripts.bench.imports import measure_import, measure_import_ratio, print_import
from scripts.bench.package_size import measure_package, print_package
from scripts.bench.steps import measure_steps, print_steps
from scripts.bench.surge import SurgeSize, measure_surges, print_surges


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
        "--readers",
        type=int,
        default=0,
        help="threads reloading the calendar and day views during a surge (each run then also without them)",
    )
    parser.add_argument(
        "--reader-pause",
        type=float,
        default=0.0,
        help="seconds a reader waits after loading both views (default 0: as fast as served)",
    )
    parser.add_argument(
        "--modes",
        default="first-available",
        help="comma-separated: first-available (POST /holds {timebook_id}), earliest-slot (list, hold the first)",
    )
    parser.add_argument(
        "--parts", default="steps,surge,import,package", help="comma-separated: steps, surge, import, package"
    )
    parser.add_argument(
        "--queue", action="store_true", help="only a sold-out surge through the waiting room: fairness (issue 20)"
    )
    parser.add_argument("--admit-per-minute", type=int, default=None, help="the room's rate (default 6x places)")
    parser.add_argument(
        "--admit-every", type=float, default=5.0, help="seconds between admission steps (default 5, as make run)"
    )
    args = parser.parse_args(argv)
    if args.citizens is None:
        args.citizens = CITIZENS_PER_PLACE * args.places
    if min(args.places, args.citizens, args.capacity, args.threads, args.repeat) < 1:
        parser.error("sizes must be at least 1")
    if (problem := SurgeSize(args.citizens, args.places, args.capacity, args.threads).problem()) is not None:
        parser.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    use_local_stage()
    args = parse_args(argv)
    parts = {"queue"} if args.queue else set(args.parts.split(","))
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
        size = SurgeSize(
            args.citizens, args.places, args.capacity, args.threads, max(0, args.readers), max(0.0, args.reader_pause)
        )
        results["surge"] = measure_surges(counter, size, args.modes.split(","), args.repeat)
        print_surges(results["surge"])
        failed += [f"surge {s['mode']} run {s['run']}: {f}" for s in results["surge"] for f in s["failed_checks"]]
    if "queue" in parts:
        from scripts.bench.queue import measure_queue, print_queue

        size = SurgeSize(args.citizens, args.places, args.capacity, args.threads)
        results["queue"] = measure_queue(size, args.admit_per_minute, args.admit_every)
        print_queue(results["queue"])
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
