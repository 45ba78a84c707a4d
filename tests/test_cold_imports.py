"""A cold start loads only what its request needs (scripts/import_ratio.py measures the cost):
app.py no use case, storage or request model (chalicelib/lazy.py), a booking no other use case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.import_ratio import BOOKING_PATH, stage_environment

ROOT = Path(__file__).resolve().parents[1]


def _loaded_by(code: str) -> list[str]:
    listing = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", listing], cwd=ROOT, env=stage_environment(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: Any = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_a_cold_import_app_loads_no_use_case_storage_or_request_model() -> None:
    loaded = _loaded_by("import app")
    assert "app" in loaded
    eager = ("chalicelib.booking.", "chalicelib.storage", "chalicelib.http.schemas", "chalicelib.messaging")
    assert [m for m in loaded if m.startswith(eager)] == []
    assert [m for m in loaded if m.split(".")[0] in ("pynamodb", "boto3", "jwt", "phonenumbers")] == []


def test_a_booking_loads_no_other_use_case_and_no_message_formats() -> None:
    loaded = _loaded_by(BOOKING_PATH)
    booking = {m for m in loaded if m.startswith("chalicelib.booking.")}
    assert {"chalicelib.booking.holds", "chalicelib.booking.appointments"} <= booking
    others = ("waitlist", "staff", "discovery", "closures", "lifecycle", "mydata", "audit", "feed", "ics")
    assert booking.isdisjoint(f"chalicelib.booking.{name}" for name in others)
    assert [m for m in loaded if m.startswith(("chalicelib.fhir", "chalicelib.messaging", "chalicelib.local"))] == []
    assert "chalicelib.domain.paging" not in loaded  # a list's paging: the request that pages loads it
    # Waves and the waiting room: only a timebook that has them (Timebook.gated) loads their rules.
    gates = (
        "chalicelib.booking.queue",
        "chalicelib.domain.queue",
        "chalicelib.storage.queue",
        "chalicelib.storage.secrets",
    )
    assert [m for m in loaded if m in gates] == []
