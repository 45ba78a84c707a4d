"""What the zip's bytecode saves a Lambda cold start: `import app` and a booking's cold start
(scripts/import_ratio.BOOKING_PATH) from the extracted deployment zip, with its .pyc and without.

Each run is a fresh interpreter (`-S`, the zip first on the path, then only the SDK the Lambda
runtime provides, no bytecode written: scripts/package.lambda_task) timing the import from the
inside. Runs alternate between the two trees, so a busy machine slows both alike; medians of CPU
time (and wall time).

    .venv/bin/python scripts/bytecode_cold_start.py [--zip build/prod/deployment.zip] [--runs 15]

The zip must carry bytecode (scripts/package.add_bytecode; `make package` adds it); the tree
"without" is the same zip with every __pycache__ removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.import_ratio import _TIMER, APP, BOOKING_PATH, stage_environment
from scripts.package import deployment_zip, lambda_task


def _run(code: str, task: Path, env: Mapping[str, str]) -> tuple[float, float]:
    result = subprocess.run(
        [sys.executable, "-S", "-c", _TIMER, code], cwd=task, env=dict(env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{code!r} failed in {task}:\n{result.stderr[-2000:]}")
    wall, cpu = result.stdout.split()
    return float(wall), float(cpu)


def measure(zip_path: Path, runs: int = 15) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="timebok-pyc-bench-") as tmp:
        with_pyc, env_with = lambda_task(zip_path, Path(tmp) / "with")
        without_pyc, env_without = lambda_task(zip_path, Path(tmp) / "without")
        for cache in sorted(without_pyc.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache)
        if not any(with_pyc.rglob("*.pyc")):
            raise SystemExit(f"{zip_path} has no bytecode: nothing to compare")
        trees = {"with": (with_pyc, {**stage_environment(), **env_with})}
        trees["without"] = (without_pyc, {**stage_environment(), **env_without})
        samples: dict[str, list[tuple[float, float]]] = {}
        for _ in range(runs):
            for name, code in (("app", APP), ("booking_path", BOOKING_PATH)):
                for tree, (task, env) in trees.items():
                    samples.setdefault(f"{name}_{tree}", []).append(_run(code, task, env))
    result: dict[str, Any] = {"runs": runs, "load_average_1min": round(os.getloadavg()[0], 2)}
    for key, values in samples.items():
        result[f"{key}_cpu_median_ms"] = round(statistics.median(c for _, c in values) * 1000, 1)
        result[f"{key}_wall_median_ms"] = round(statistics.median(w for w, _ in values) * 1000, 1)
    return result


def report(result: Mapping[str, Any]) -> str:
    lines = [f"median of {result['runs']} fresh interpreters each, load {result['load_average_1min']}"]
    for name, label in (("app", "import app"), ("booking_path", "a booking's cold start")):
        with_cpu, without_cpu = result[f"{name}_with_cpu_median_ms"], result[f"{name}_without_cpu_median_ms"]
        lines.append(
            f"{label}: {with_cpu} ms CPU with bytecode, {without_cpu} ms without "
            f"({without_cpu / with_cpu:.1f}x); wall {result[f'{name}_with_wall_median_ms']} vs "
            f"{result[f'{name}_without_wall_median_ms']} ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=deployment_zip("prod"))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.zip, args.runs)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
