"""Every resource we produce against the published profiles (tests/standards/profiles.py): the
hn-basis-appointment package for Appointments, the SMART Scheduling Links test kit's conformance
profiles for the feed. Skips, naming what to put where, when ../shared/fhir/ is missing."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from chalicelib.booking import feed
from chalicelib.fhir import codes
from tests.conftest import Citizen
from tests.standards import profiles
from tests.standards.conftest import Standards
from tests.standards.test_helsenorge import book, cancel, confirm

pytestmark = pytest.mark.skipif(profiles.package_dir() is None, reason=profiles.WHAT_TO_PUT)

SMART = "http://fhir-registry.smarthealthit.org/StructureDefinition"


def test_the_validator_passes_the_published_examples_and_fails_a_broken_one() -> None:
    """The validator itself: the package's own example Appointments conform (where the package has them)."""
    examples = sorted(profiles.package_dir().rglob("Appointment-*.json"))  # type: ignore[union-attr]
    for path in examples:
        assert profiles.appointment_problems(json.loads(path.read_text(encoding="utf-8-sig"))) == [], path.name
    broken = {
        "resourceType": "Appointment",
        "status": "booked",
        "serviceCategory": [{"coding": [{"system": codes.TIMEBOOK_TYPE, "code": "koronatest"}]}],
        "participant": [{"actor": {"type": "Organization", "display": "x"}, "status": "accepted"}],
    }
    problems = "\n".join(profiles.appointment_problems(broken))
    for element in ("identifier", "supportingInformation", "serviceCategory", "participant.actor", "appointmentType"):
        assert f"Appointment.{element}" in problems, element


def test_every_appointment_we_send_conforms_to_hn_basis_appointment(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    """Requested, booked, cancelled by the citizen, rejected by staff: each version as sent and as
    `GET /appointments/{id}/fhir` answers it."""
    elise, jon = Citizen(71), Citizen(72)
    first = book(client, demo, elise)
    standards.send_to_helsenorge()
    confirm(client, staff_token, first["id"])
    standards.send_to_helsenorge()
    cancel(client, elise, first["id"])
    second = book(client, demo, jon)
    assert (
        client.post(f"/admin/appointments/{second['id']}/reject", {"reason": "Fullt"}, token=staff_token).status == 200
    )
    standards.send_to_helsenorge()
    assert standards.receiver.refused == []
    assert len(standards.receiver.received) >= 4
    for resource in standards.receiver.items():
        assert profiles.appointment_problems(resource) == [], resource["id"]
    answered = client.get(f"/appointments/{first['id']}/fhir", token=elise.token).json
    assert profiles.appointment_problems(answered) == []


def test_the_feed_passes_the_smart_test_kit_profiles(standards: Standards, demo: Any) -> None:
    """Location (vaccine-location and its address), every Slot (vaccine-slot), covid vaccine
    schedules (vaccine-schedule). Known deviation: vaccine-location's `identifier:vTrckS` slice (a
    CDC VTrckS pin, US only) is a slice, which the validator does not count."""
    publication = feed.publish(feed.S3FeedStore())
    lines = {name: [json.loads(x) for x in body.splitlines()] for name, body in publication.files.items()}
    for location in lines["locations.ndjson"]:
        assert profiles.validate(location, f"{SMART}/vaccine-location") == [], location["id"]
        assert profiles.validate(location["address"], f"{SMART}/vaccine-location-address") == []
    covid = [s for s in lines["schedules.ndjson"] if "covid19-immunization" in json.dumps(s)]
    for schedule in covid:
        assert profiles.validate(schedule, f"{SMART}/vaccine-schedule") == [], schedule["id"]
    for schedule in lines["schedules.ndjson"]:
        systems = {c["system"] for c in schedule["serviceType"][0]["coding"]}
        assert codes.HL7_SERVICE_TYPE in systems, schedule["id"]
    for slot in lines["slots.ndjson"]:
        assert profiles.validate(slot, f"{SMART}/vaccine-slot") == [], slot["id"]


def test_the_validator_reads_only_the_shared_directory() -> None:
    """Nothing of the packages is committed: the repository holds no StructureDefinition."""
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=profiles.ROOT).stdout
    assert "StructureDefinition-" not in tracked
