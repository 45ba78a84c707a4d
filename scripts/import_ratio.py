"""How much slower `import app` is than importing its bare dependencies (a Lambda cold start).

Each run is a fresh interpreter that times one import statement from the inside (so the
interpreter's own start-up is not counted): `import app`, or its bare dependencies: every module
of chalice, pynamodb and pydantic (`LIBRARIES`) that `import app` loads, imported by themselves
(found by importing app once). The difference is ours: our modules, the classes they build at
import, and any other library imported eagerly rather than in the function that needs it.
Runs alternate between the two, so a busy machine slows both alike; the ratio is of the medians
of CPU time (steadier than wall time on a shared machine; wall time is reported too).
Bytecode is compiled once before measuring, as a deployed Lambda has it. A booking's cold start
(`BOOKING_PATH`: app.py and what POST /holds and POST /appointments load on first use) is measured
the same way against the library modules it loads, with the same target.

    .venv/bin/python scripts/import_ratio.py [--runs 15] [--json]
    .venv/bin/python scripts/import_ratio.py --against ../old-checkout [--runs 40]

`--against` compares trees (other checkouts of this repository, say a worktree of an older commit)
on one shared denominator: each round runs every tree's booking path and this tree's bare library
modules once, interleaved. Two separate runs of `measure()` each divide by their own bare median,
which moves by ±10 % between runs on a shared machine; that swamped a 2 % difference between trees.

`measure()` returns the same numbers as a dict (`make bench`, scripts/bench/imports.py, reports them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.2  # app.py (and a booking's cold start) may cost at most this many times its bare dependencies
LIBRARIES = ("chalice", "pynamodb", "pydantic")
# The least of them app.py needs: a stricter yardstick, also reported (an eager import of a heavy
# part of these libraries, such as pydantic's JSON schema, shows there and not in the ratio).
MINIMAL = "import chalice.app, pynamodb.models, pynamodb.transactions\nfrom pydantic import BaseModel"
APP = "import app"
# What a cold start that books loads before it answers: app.py, then what POST /holds and POST
# /appointments load on first use (app.py loads use cases and request models lazily, chalicelib/lazy.py):
# the two use cases, their commands, and the request and response models the two routes name.
BOOKING_PATH = (
    "import app\nimport chalicelib.booking.holds, chalicelib.booking.appointments\n"
    "from chalicelib.booking.commands import BookAppointment, TakeHold\n"
    "from chalicelib.http.schemas import AppointmentIn, AppointmentOut, HoldIn, HoldOut"
)
STAGE = "prod"  # what Lambda imports (the local stage adds /dev/token)

_TIMER = """
import sys, time
wall, cpu = time.perf_counter(), time.process_time()
exec(compile(sys.argv[1], "<measured>", "exec"))
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


def stage_environment(stage: str = STAGE) -> dict[str, str]:
    """The environment a deployed stage's function has (.chalice/config.json), without AWS access."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKEN_", "DEV_TOKENS"))}
    env.update(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    env.update({"AWS_DEFAULT_REGION": "eu-north-1", "TABLE_NAME": "timebok-ratio"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # read bytecode, as Lambda does
    return env


def _run(code: str, env: Mapping[str, str], tree: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `code` in a fresh interpreter, in `tree`."""
    result = subprocess.run(
        [sys.executable, "-c", _TIMER, code], cwd=tree, env=dict(env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{code!r} failed in {tree}:\n{result.stderr[-2000:]}")
    wall, cpu = result.stdout.split()
    return float(wall), float(cpu)


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def bare_dependencies(env: Mapping[str, str], code: str = APP, tree: Path = ROOT) -> str:
    """An import statement for the modules of LIBRARIES that `code` loads."""
    listing = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {list(LIBRARIES)!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", listing], cwd=tree, env=dict(env), capture_output=True, text=True, check=True
    )
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    return "import " + ", ".join(modules) if modules else "pass"


def measure(runs: int = 15, stage: str = STAGE) -> dict[str, Any]:
    """Side by side in fresh subprocesses, `runs` of each; medians in ms and their ratio."""
    env = stage_environment(stage)
    _run(APP, env)  # compile bytecode once; every measured run then reads .pyc
    bare_code = bare_dependencies(env)
    path_bare_code = bare_dependencies(env, BOOKING_PATH)
    bare: list[tuple[float, float]] = []
    minimal: list[tuple[float, float]] = []
    app: list[tuple[float, float]] = []
    path: list[tuple[float, float]] = []
    path_bare: list[tuple[float, float]] = []
    for _ in range(runs):
        bare.append(_run(bare_code, env))
        minimal.append(_run(MINIMAL, env))
        app.append(_run(APP, env))
        path.append(_run(BOOKING_PATH, env))
        path_bare.append(_run(path_bare_code, env))
    path_cpu, path_bare_cpu = _ms([c for _, c in path]), _ms([c for _, c in path_bare])
    bare_cpu, app_cpu = _ms([c for _, c in bare]), _ms([c for _, c in app])
    minimal_cpu = _ms([c for _, c in minimal])
    bare_wall, app_wall = _ms([w for w, _ in bare]), _ms([w for w, _ in app])
    return {
        "runs": runs,
        "stage": stage,
        "bare_modules": len(bare_code.split(",")),
        "bare_cpu_median_ms": bare_cpu,
        "app_cpu_median_ms": app_cpu,
        "bare_wall_median_ms": bare_wall,
        "app_wall_median_ms": app_wall,
        "ratio": round(app_cpu / bare_cpu, 3),
        "ratio_wall": round(app_wall / bare_wall, 3),
        "minimal_cpu_median_ms": minimal_cpu,
        "ratio_to_minimal": round(app_cpu / minimal_cpu, 3),
        # The honest cold start of a booking: app.py plus the use cases it loads on first use,
        # against the same libraries' modules that path loads.
        "booking_path_cpu_median_ms": path_cpu,
        "booking_path_bare_cpu_median_ms": path_bare_cpu,
        "booking_path_ratio": round(path_cpu / path_bare_cpu, 3),
        "target": TARGET,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def compare(trees: list[Path], runs: int = 40, stage: str = STAGE, code: str = BOOKING_PATH) -> dict[str, Any]:
    """Each tree's `code` (the booking path) against this tree's bare library modules, interleaved."""
    env = stage_environment(stage)
    bare_code = bare_dependencies(env, code)
    for tree in trees:
        theirs = bare_dependencies(env, code, tree)
        if sorted(theirs.split(", ")) != sorted(bare_code.split(", ")):
            raise RuntimeError(f"{tree} loads other library modules: one denominator would not fit both")
    for tree in trees:
        _run(code, env, tree)  # compile each tree's bytecode before measuring
    cpu: dict[str, list[float]] = {str(tree): [] for tree in trees}
    bare: list[float] = []
    for _ in range(runs):
        for tree in trees:
            cpu[str(tree)].append(_run(code, env, tree)[1])
        bare.append(_run(bare_code, env)[1])
    bare_ms = _ms(bare)
    return {
        "runs": runs,
        "bare_cpu_median_ms": bare_ms,
        "trees": {t: {"cpu_median_ms": _ms(v), "ratio": round(_ms(v) / bare_ms, 3)} for t, v in cpu.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _verdict(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else f"over the {target}x target"


def report(result: Mapping[str, Any]) -> str:
    verdict = _verdict(result["ratio"], result["target"])
    path_verdict = _verdict(result["booking_path_ratio"], result["target"])
    return (
        f"import app: {result['app_cpu_median_ms']} ms CPU vs {result['bare_cpu_median_ms']} ms for its bare "
        f"dependencies ({result['bare_modules']} modules of {', '.join(LIBRARIES)}): "
        f"{result['ratio']}x ({verdict}); wall {result['app_wall_median_ms']} vs "
        f"{result['bare_wall_median_ms']} ms ({result['ratio_wall']}x); median of {result['runs']} runs each, "
        f"load {result['load_average_1min']}; against the minimal imports ({result['minimal_cpu_median_ms']} ms) "
        f"{result['ratio_to_minimal']}x; a booking's cold start (app.py + the hold and booking use cases) "
        f"{result['booking_path_cpu_median_ms']} ms vs {result['booking_path_bare_cpu_median_ms']} ms for the "
        f"library modules it loads: {result['booking_path_ratio']}x ({path_verdict})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--stage", default=STAGE, choices=("local", "dev", "prod"))
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--against", nargs="+", type=Path, metavar="TREE", help="compare this tree's booking path with these trees'"
    )
    args = parser.parse_args(argv)
    if args.against:
        print(json.dumps(compare([ROOT, *(t.resolve() for t in args.against)], args.runs, args.stage), indent=2))
        return 0
    result = measure(args.runs, args.stage)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
