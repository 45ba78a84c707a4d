"""Issue 19's remainder: cancellation reasons from Volven 8445 in every cancelled Appointment we
push (citizen, staff, reject, closure), and SMART's vaccine-product extension on the Schedules of
vaccine timebooks that name their product. Each resource also passes the R4 JSON schema and, where
the published packages are present, the profile validator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.booking import feed
from chalicelib.fhir import appointment, codes, scheduling
from tests.conftest import Citizen
from tests.helpers import timebook_body
from tests.standards import profiles
from tests.standards.conftest import Standards
from tests.standards.test_helsenorge import book, cancel, confirm
from tests.standards.test_r4_schema import SCHEMA, schema_problems

VOLVEN = codes.VOLVEN_CANCELLATION_REASON


def _coded(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in resource["cancelationReason"]["coding"]]


def _checked(resource: dict[str, Any]) -> None:
    if SCHEMA.is_file():
        assert schema_problems(resource) == [], resource["id"]
    if profiles.package_dir() is not None:
        assert profiles.appointment_problems(resource) == [], resource["id"]


@pytest.mark.parametrize(
    ("status", "reason", "cause"),
    [
        ("cancelled", None, "citizen"),
        ("cancelled", "Sykdom i staben", "staff"),  # by hand or by a closure: the staff's reason
        ("rejected", "Fullt", "staff"),
        ("rejected", None, "staff"),
        ("noshow", None, None),  # a status of its own, not a cancellation
        ("arrived", None, None),
        ("booked", None, None),
        ("requested", None, None),
    ],
)
def test_who_ended_an_appointment(status: str, reason: str | None, cause: str | None) -> None:
    assert appointment.cancel_cause(status, reason) == cause


def test_every_cancel_cause_has_a_volven_8445_code_and_hl7_beside_it() -> None:
    for volven, hl7 in codes.CANCELLATION_CODES.values():
        assert volven["system"] == VOLVEN and volven["code"] in {"1", "2", "3", "4", "5", "7", "9"}
        assert volven["display"] and hl7["system"] == codes.CANCELLATION_REASON and hl7["display"]


def test_citizen_staff_reject_and_closure_cancels_carry_volven_8445(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    by_citizen, by_staff, rejected, closed = Citizen(461), Citizen(462), Citizen(463), Citizen(464)
    mine = book(client, demo, by_citizen)
    cancel(client, by_citizen, mine["id"])
    staffs = book(client, demo, by_staff)
    confirm(client, staff_token, staffs["id"])
    assert (
        client.post(f"/admin/appointments/{staffs['id']}/cancel", {"reason": "Lege syk"}, token=staff_token).status
        == 200
    )
    refused = book(client, demo, rejected)
    assert (
        client.post(f"/admin/appointments/{refused['id']}/reject", {"reason": "Fullt"}, token=staff_token).status == 200
    )
    in_closure = book(client, demo, closed)
    start = in_closure["start"]
    closure = {"from": start, "to": in_closure["end"], "reason": "Stasjonen stenger"}
    answer = client.post(f"/admin/timebooks/{demo.koronatest_id}/closures", closure, token=staff_token)
    assert answer.status == 200 and answer.json["cancelled"] >= 1, answer
    standards.send_to_helsenorge()
    sent = {resource["identifier"][0]["value"]: resource for resource in standards.receiver.items()}

    assert _coded(sent[mine["id"]]) == [(VOLVEN, "2"), (codes.CANCELLATION_REASON, "pat")]
    assert sent[mine["id"]]["cancelationReason"]["text"] == "Avbestilt av innbygger"
    for item, text in ((staffs, "Lege syk"), (refused, "Fullt"), (in_closure, "Stasjonen stenger")):
        resource = sent[item["id"]]
        assert resource["status"] == "cancelled"
        assert _coded(resource) == [(VOLVEN, "9"), (codes.CANCELLATION_REASON, "prov")], item["id"]
        assert resource["cancelationReason"]["text"] == text
    for resource in sent.values():
        _checked(resource)


@pytest.mark.parametrize(
    ("kind", "texts", "code"),
    [
        ("koronavaksine", ("Koronavaksine Comirnaty",), "208"),
        ("koronavaksine", ("Koronavaksine", "Vi gir Spikevax."), "207"),
        ("vaksine", ("Vaksine", "", "Pfizer-BioNTech"), "208"),
        ("koronavaksine", ("Koronavaksine",), None),  # no product named: not known
        ("koronavaksine", ("Comirnaty eller Spikevax",), None),  # two: the timebook does not say which
        ("koronavaksine", ("Modernisert vaksinesenter",), None),  # whole words only
        ("koronatest", ("Test før Comirnaty",), None),  # not a vaccine timebook
    ],
)
def test_the_vaccine_product_a_timebook_names(kind: str, texts: tuple[str, ...], code: str | None) -> None:
    found = codes.vaccine_product(kind, *texts)
    assert (found or {}).get("code") == code
    if found:
        assert found["system"] == "http://hl7.org/fhir/sid/cvx" and found["display"]
    schedule = scheduling.schedule_resource("tb1", kind, texts[0], "lo1", *texts[1:])
    extensions = schedule.get("extension", [])
    assert [e["valueCoding"]["code"] for e in extensions if e["url"] == codes.VACCINE_PRODUCT] == (
        [code] if code else []
    )
    assert codes.VACCINE_PRODUCT == "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-product"


def test_the_feed_carries_the_product_of_a_vaccine_timebook_that_names_it(
    standards: Standards, demo: Any, client: Any, staff_token: str
) -> None:
    body = timebook_body(demo.smittevern_id, requires_confirmation=False, max_active_per_person=None)
    body.update(type="koronavaksine", name="Koronavaksine Comirnaty", description="Oppfriskningsdose.")
    made = client.post("/admin/timebooks", body, token=staff_token)
    assert made.status == 201, made
    place = client.post(
        f"/admin/timebooks/{made.json['id']}/locations",
        {"name": "Hall", "address": "Gata 2, 0150 Oslo"},
        token=staff_token,
    )
    assert place.status == 201, place
    publication = feed.publish(feed.S3FeedStore())
    schedules = [json.loads(line) for line in publication.files["schedules.ndjson"].splitlines()]
    named = [s for s in schedules if s["comment"] == "Koronavaksine Comirnaty"]
    assert len(named) == 1
    assert named[0]["extension"] == [
        {
            "url": codes.VACCINE_PRODUCT,
            "valueCoding": {"system": codes.CVX, "code": "208", "display": "Pfizer-BioNTech COVID-19 Vaccine"},
        }
    ]
    assert all("extension" not in s for s in schedules if s is not named[0]), "the demo's timebooks name none"
    for schedule in schedules:
        if SCHEMA.is_file():
            assert schema_problems(schedule) == [], schedule["id"]
    if profiles.package_dir() is not None:
        smart = "http://fhir-registry.smarthealthit.org/StructureDefinition"
        assert profiles.validate(named[0], f"{smart}/vaccine-schedule") == []
