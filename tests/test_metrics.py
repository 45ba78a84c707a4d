"""Live figures (chalicelib/metrics.py): what the API answers is counted as business figures,
`GET /admin/figures` shows this process's, and a deployed stage writes each invocation's as
CloudWatch embedded metrics through Powertools; the API's cold start does not load Powertools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib import metrics
from chalicelib.local.moto_server import Conflicts
from tests.conftest import KORONATEST_ANSWERS, Citizen, demo_staff_token
from tests.helpers import book_body, free_slots

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def counted(client: Any, demo: Any) -> Any:
    metrics.reset()
    return client


def test_holds_bookings_lost_races_and_429s_are_counted_and_shown_to_staff(counted: Any, demo: Any) -> None:
    client = counted
    slot = next(s for s in free_slots(client, demo.koronatest_id) if s["free"] > 0)
    takers = [Citizen(9301 + n) for n in range(slot["free"] + 1)]
    for citizen in takers[:-1]:
        hold = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token)
        assert hold.status == 201, hold
        body = book_body(citizen.phone, KORONATEST_ANSWERS, hold_id=hold.json["id"])
        assert client.post("/appointments", body, token=citizen.token).status == 201
    lost = client.post("/holds", {"slot_id": slot["id"]}, token=takers[-1].token)
    assert lost.status == 409 and lost.json["error"]["code"] == "slot_unavailable"
    undo = Conflicts(1.0, seed=1).install()
    try:
        busy = client.post("/holds", {"timebook_id": demo.koronatest_id}, token=Citizen(9399).token)
    finally:
        undo()
    assert busy.status == 429

    answer = client.get("/admin/figures", token=demo_staff_token())
    assert answer.status == 200, answer
    figures = answer.json
    assert figures["scope"] == "process" and figures["seconds"] >= 0
    counters = figures["counters"]
    assert counters["Holds"] == counters["Bookings"] == slot["free"]
    assert counters["LostRaces"] == 1 and counters["Throttled"] == 1
    assert counters["ConflictsRetried"] >= 1 and counters["ConflictsSpent"] >= 1


def test_relay_lag_is_a_gauge() -> None:
    metrics.reset()
    metrics.relay_lag(2.5)
    metrics.relay_lag(-1)  # clocks disagree: never a negative lag
    assert metrics.snapshot().gauges == {"RelayLagSeconds": 0.0}


def test_the_waiting_room_has_one_call() -> None:
    metrics.reset()
    metrics.queue_figures(length=120, admitted=15)
    metrics.queue_figures(length=100, admitted=0)
    shown = metrics.snapshot()
    assert shown.gauges["QueueLength"] == 100 and shown.counters["Admitted"] == 15


def test_a_deployed_stage_writes_embedded_metrics_once_per_invocation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics.reset()
    monkeypatch.setenv("TIMEBOK_STAGE", "prod")
    metrics.answered("create_hold", 201, None)
    metrics.answered("create_hold", 201, None)
    metrics.answered("create_appointment", 429, "busy")
    metrics.flush()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1, lines
    document = json.loads(lines[0])
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Timebok" and directive["Dimensions"] == [["stack"]]
    assert document["stack"] == "timebok-prod" and document["stage"] == "prod"
    assert document["Holds"] == [2.0] and document["Throttled"] == [1.0]
    assert {m["Name"] for m in directive["Metrics"]} <= {*metrics.COUNTERS, *metrics.GAUGES}
    metrics.flush()  # nothing new: nothing written
    assert capsys.readouterr().out == ""
    assert metrics.snapshot().counters["Holds"] == 2  # the process's counters go on


def test_the_local_stage_keeps_figures_off_the_console(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.reset()
    metrics.count("Holds")
    metrics.flush()
    assert capsys.readouterr().out == ""


def test_the_api_cold_start_does_not_load_powertools_metrics() -> None:
    """`import app` and a request that counts nothing do not import Powertools; nor does one that
    counts on the local stage."""
    code = (
        "import sys, app, chalicelib.metrics as m\n"
        "m.answered('list_health_contacts', 200, None); m.flush()\n"
        "m.answered('create_hold', 201, None); m.flush()\n"
        "assert not [n for n in sys.modules if n.startswith('aws_lambda_powertools')], 'loaded'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TIMEBOK_STAGE"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)
