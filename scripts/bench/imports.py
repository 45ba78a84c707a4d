"""Part 3: import time of app.py (fresh interpreters, -X importtime), and scripts/import_ratio.py's
ratio when that script exists.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping

# ---- 3. import time ------------------------------------------------------------------------------
from typing import Any

from scripts.bench.common import IMPORT_RUNS, ROOT, local_stage_environment


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
