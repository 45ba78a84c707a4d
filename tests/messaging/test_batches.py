"""messaging/batches.py: a FIFO batch through Powertools' SqsFifoPartialProcessor, without AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.messaging.batches import Undelivered, group_of, process_fifo, sqs_record
from tests.messaging.conftest import PID

ROOT = Path(__file__).resolve().parents[2]


def body(appointment_id: str, n: int = 0) -> str:
    return json.dumps(
        {
            "event_id": f"{appointment_id}.{n:04d}.confirmed",
            "kind": "confirmed",
            "appointment_id": appointment_id,
            "created_at": "2022-10-01T10:00:00+02:00",
            "payload": {"for_pid": PID},
        }
    )


def run(records: list[tuple[str, str]], failing: set[str]) -> tuple[list[str], list[str]]:
    """(handled message ids in order, failed message ids) with the given ones failing."""
    handled: list[str] = []

    def handle(record: Any) -> None:
        handled.append(record.message_id)
        if record.message_id in failing:
            raise Undelivered("RuntimeError")

    return handled, process_fifo([sqs_record(m, b) for m, b in records], handle)


def test_every_record_is_handled_in_order() -> None:
    records = [("m1", body("apA")), ("m2", body("apB")), ("m3", body("apA", 1))]
    assert run(records, set()) == (["m1", "m2", "m3"], [])


def test_a_failed_appointments_later_messages_are_held_back_untried_and_others_go_on() -> None:
    records = [("m1", body("apA")), ("m2", body("apB")), ("m3", body("apA", 1)), ("m4", body("apB", 1))]
    assert run(records, {"m1"}) == (["m1", "m2", "m4"], ["m1", "m3"])


def test_a_message_that_is_not_ours_fails_alone() -> None:
    records = [("bad", "{not json"), ("m2", body("apA"))]
    assert group_of("{not json") == ""
    assert run(records, {"bad"}) == (["bad", "m2"], ["bad"])


def test_a_batch_that_fails_whole_is_reported_not_raised() -> None:
    records = [("m1", body("apA")), ("m2", body("apB"))]
    assert run(records, {"m1", "m2"}) == (["m1", "m2"], ["m1", "m2"])


def test_the_group_is_the_appointment() -> None:
    assert sqs_record("m1", body("apA"))["attributes"]["MessageGroupId"] == "apA"


def test_the_api_cold_start_does_not_load_powertools() -> None:
    """Only the SQS handlers import it (inside process_fifo): `import app` and a request do not."""
    code = "import sys, app, chalicelib.messaging.consumer, chalicelib.messaging.helsenorge\n"
    code += "assert not [m for m in sys.modules if m.startswith('aws_lambda_powertools')]"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), check=True, timeout=120)
