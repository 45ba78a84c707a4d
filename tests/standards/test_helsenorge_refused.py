"""The strict stand-in refuses what hn-basis-appointment refuses (422 + OperationOutcome naming the
element); the sender takes a 4xx as permanent: dead-letter queue at once (alarm), a 5xx as retry."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.fhir import appointment as fhir_appointment
from chalicelib.local.standards import LOCAL_TOKEN, problems_of
from chalicelib.messaging import helsenorge
from tests.conftest import REGION, Citizen
from tests.standards.conftest import Standards, http
from tests.standards.test_helsenorge import book


def _without(resource: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in names}


def test_a_nonconforming_resource_is_refused_and_lands_in_the_dead_letter_queue(
    standards: Standards, demo: Any, client: Any, monkeypatch: pytest.MonkeyPatch, helsenorge_log: Any
) -> None:
    real = fhir_appointment.appointment_resource
    monkeypatch.setattr(
        fhir_appointment, "appointment_resource", lambda item: _without(real(item), "supportingInformation")
    )
    booked = book(client, demo, Citizen(61))
    standards.send_to_helsenorge()
    assert standards.receiver.refused == [booked["id"]] and standards.receiver.items() == []
    assert standards.queued() == 0 and standards.queued(dead_letter=True) == 1  # once: not 20 tries
    (message,) = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=standards.resources["helsenorge_dead_letter_queue_url"], MaxNumberOfMessages=10
    )["Messages"]
    assert json.loads(message["Body"])["appointment_id"] == booked["id"]
    assert "moved to the dead-letter queue" in helsenorge_log.text
    assert Citizen(61).pid not in helsenorge_log.text


def test_a_5xx_is_retried_not_dead_lettered(standards: Standards, demo: Any, client: Any) -> None:
    book(client, demo, Citizen(62))
    standards.receiver.down = True
    standards.send_to_helsenorge(rounds=2)
    assert standards.queued() == 1 and standards.queued(dead_letter=True) == 0
    standards.receiver.down = False
    standards.send_to_helsenorge()
    assert standards.queued() == 0 and len(standards.receiver.items()) == 1


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (404, True),
        (422, True),
        (401, False),
        (408, False),
        (429, False),
        (500, False),
        (503, False),
        (None, False),
    ],
)
def test_which_failures_are_permanent(status: int | None, permanent: bool) -> None:
    assert helsenorge.SendFailed(status, "x").permanent is permanent


def test_the_422_names_each_element_in_an_operation_outcome(standards: Standards, demo: Any, client: Any) -> None:
    booked = book(client, demo, Citizen(63))
    standards.send_to_helsenorge()
    (good,) = standards.receiver.items()
    assert problems_of(good) == []
    bad = _without(good, "serviceCategory", "supportingInformation")
    bad["meta"] = {**good["meta"], "profile": []}
    status, _, body = http(
        "PUT",
        f"{standards.server.helsenorge_url}/Appointment/{booked['id']}",
        bad,
        {"Authorization": f"Bearer {LOCAL_TOKEN}", "Content-Type": "application/fhir+json"},
    )
    answer = json.loads(body)
    assert status == 422 and answer["resourceType"] == "OperationOutcome"
    named = {path for issue in answer["issue"] for path in issue["expression"]}
    assert {"Appointment.serviceCategory", "Appointment.supportingInformation", "Appointment.meta.profile"} <= named
