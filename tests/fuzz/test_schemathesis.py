"""Schemathesis against the live local stack: no 5xx, and every answer as the document says.

Each operation gets up to 15 generated requests, valid and invalid ones, signed in with a
citizen or a staff token as its tag asks. About half the ids in them are swapped for real ones
(`fuzz_world`), so requests get past 404 into the use cases. Alone: `pytest -m fuzz`.

The cases are generated from the document built in-process: schemathesis' lazy
`schemathesis.pytest.from_fixture` loader breaks on pytest 9.2 (it sets `Function._nodeid`,
which pytest no longer has). `test_the_live_service_serves_the_fuzzed_document` makes sure the
live service serves exactly this document.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from app import api
from chalicelib.http import openapi
from tests.factories import make_phone
from tests.live import WAIT_SECONDS

pytestmark = pytest.mark.fuzz

# A deeper run: FUZZ_MAX_EXAMPLES=200 pytest -m fuzz (about 5 minutes).
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(openapi.document(api), config=CONFIG)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

# Parameter and body field names -> the kind of real id in fuzz_world.
PATH_IDS = {"hc_id": "hc", "timebook_id": "timebook", "hold_id": "hold", "appointment_id": "appointment"}
QUERY_IDS = {"timebook_id": "timebook", "location": "location", "date": "date", "month": "month"}
BODY_IDS = {
    "slot_id": "slot",
    "timebook_id": "timebook",
    "hold_id": "hold",
    "location_id": "location",
    "health_contact_id": "hc",
    "date": "date",
    "phone": "phone",
}
# A real location would let a generated schedule make up to ~100 000 slots in one request
# (a year of 5-minute slots), far beyond a bounded run: schedules keep their random location ids.
KEEP_RANDOM = {("POST", "/admin/timebooks/{timebook_id}/schedules"): {"location_id"}}


def _real(
    data: st.DataObject,
    values: dict[str, Any] | None,
    names: dict[str, str],
    world: dict[str, list[str]],
    keep: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Swap some generated values for real ones, in place; invalid (negative) shapes stay as they are."""
    if not isinstance(values, dict):
        return
    for name, kind in names.items():
        if name in values and name not in keep and isinstance(values[name], str) and world.get(kind):
            values[name] = data.draw(st.one_of(st.just(values[name]), st.sampled_from(world[kind])), label=name)


@pytest.fixture(scope="module")
def world(fuzz_world: dict[str, list[str]]) -> dict[str, list[str]]:
    return {**fuzz_world, "phone": [make_phone(9001)]}


def test_the_live_service_serves_the_fuzzed_document(fuzz_url: str) -> None:
    response = requests.get(f"{fuzz_url}/openapi.json", timeout=WAIT_SECONDS)
    assert response.status_code == 200
    assert response.json() == openapi.document(api)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api(
    case: Any, data: st.DataObject, fuzz_url: str, fuzz_tokens: dict[str, str], world: dict[str, list[str]]
) -> None:
    keep = KEEP_RANDOM.get((case.method.upper(), case.path), set())
    _real(data, case.path_parameters, PATH_IDS, world)
    _real(data, case.query, QUERY_IDS, world)
    _real(data, case.body, BODY_IDS, world, keep)
    tags = case.operation.tags or []
    headers = {"Authorization": f"Bearer {fuzz_tokens[tags[0]]}"} if tags and tags[0] in fuzz_tokens else {}
    case.call_and_validate(base_url=fuzz_url, headers=headers, checks=CHECKS, timeout=30)
