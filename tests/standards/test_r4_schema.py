"""Every resource we produce against the official FHIR R4 JSON schema (`make fhir-schema` puts it in
build/fhir-schema/; Python's jsonschema validates). Needs no vendored profile: runs in CI."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from chalicelib.booking import feed
from tests.conftest import Citizen
from tests.standards.conftest import Standards
from tests.standards.test_helsenorge import book, cancel, confirm

SCHEMA = Path(__file__).resolve().parents[2] / "build" / "fhir-schema" / "fhir.schema.json"

pytestmark = pytest.mark.skipif(
    not SCHEMA.is_file(), reason=f"no {SCHEMA}: run `make fhir-schema` (part of `make test-setup`)"
)


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(schema)


def schema_problems(resource: dict[str, Any]) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message[:160]}"
        for error in _validator().iter_errors(resource)
    ]


def test_the_schema_refuses_what_r4_refuses() -> None:
    assert schema_problems({"resourceType": "Appointment", "status": "booked", "participant": []}) == []
    assert schema_problems({"resourceType": "Appointment", "status": "done", "participant": []})
    assert schema_problems({"resourceType": "Slot", "status": "free", "schedule": {}, "start": "x", "end": "y"})


def test_every_appointment_we_send_is_r4(standards: Standards, demo: Any, client: Any, staff_token: str) -> None:
    elise, jon = Citizen(81), Citizen(82)
    first = book(client, demo, elise)
    standards.send_to_helsenorge()
    confirm(client, staff_token, first["id"])
    cancel(client, elise, first["id"])
    second = book(client, demo, jon)
    assert (
        client.post(f"/admin/appointments/{second['id']}/reject", {"reason": "Fullt"}, token=staff_token).status == 200
    )
    standards.send_to_helsenorge()
    kept = standards.receiver.items()
    assert len(kept) == 2
    for resource in kept:
        assert schema_problems(resource) == [], resource["id"]


def test_every_feed_resource_is_r4(standards: Standards, demo: Any) -> None:
    publication = feed.publish(feed.S3FeedStore())
    for name, body in publication.files.items():
        lines = [json.loads(line) for line in body.splitlines()]
        assert lines, name
        for resource in lines:
            assert schema_problems(resource) == [], (name, resource["id"])
