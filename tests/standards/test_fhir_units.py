"""The small rules of chalicelib/fhir: addresses, ids, instants, deep links, service types."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.fhir import codes, scheduling


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gaten 1, 0271 Oslo", {"line": ["Gaten 1"], "postalCode": "0271", "city": "Oslo"}),
        (
            "Postboks 12, Storgata 5, 0150  OSLO",
            {"line": ["Postboks 12", "Storgata 5"], "postalCode": "0150", "city": "OSLO"},
        ),
        ("Strandveien 3 9008 Tromsø", {"line": ["Strandveien 3"], "postalCode": "9008", "city": "Tromsø"}),
        ("Rådhuset", {"line": ["Rådhuset"]}),
    ],
)
def test_addresses_parse_into_line_postal_code_and_city(text: str, expected: dict) -> None:
    district = {"district": expected["city"]} if "city" in expected else {}
    assert scheduling.address(text) == {**expected, **district, "state": "NO", "country": "NO"}


def test_ids_become_fhir_ids() -> None:
    assert codes.fhir_id("tb1_loc2_202603011000") == "tb1.loc2.202603011000"
    assert codes.fhir_id("x" * 80) == "x" * 64


def test_instants_are_oslo_time_with_offset() -> None:
    assert (
        codes.instant(datetime(2026, 3, 29, 1, 30, tzinfo=UTC)) == "2026-03-29T03:30:00+02:00"
    )  # after spring forward
    assert codes.instant("2026-01-05T08:00:00+01:00") == "2026-01-05T08:00:00+01:00"
    with pytest.raises(ValueError):
        codes.instant(datetime(2026, 1, 5, 8, 0))  # naive: refused


def test_deep_link_names_the_portal_step_4_and_the_slot() -> None:
    link = scheduling.deep_link("https://portal.example.no/", "tb1", "tb1_lo1_202601050800", "lo1", "2026-01-05")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "portal.example.no", "/")
    route, _, query = parts.fragment.partition("?")
    # issue 19: the portal's own calendar route (the old /timebooks/{id}/slots opened «Fant ikke siden»)
    assert route == "/timebok/tb1/kalender"
    assert parse_qs(query) == {
        "sted": ["lo1"],
        "maaned": ["2026-01"],
        "dato": ["2026-01-05"],
        "tid": ["tb1_lo1_202601050800"],
    }


def test_service_types_by_timebook_type() -> None:
    def codes_of(kind: str) -> set[str]:
        return {c["code"] for c in codes.service_type(kind)[0]["coding"]}

    assert codes_of("koronavaksine") == {"koronavaksine", "57", "covid19-immunization"}
    assert codes_of("vaksine") == {"vaksine", "57"}
    assert codes_of("koronatest") == {"koronatest", "124"}  # issue 19: every schedule has an HL7 service-type
    for kind in codes.TIMEBOOK_TYPES:
        systems = {c["system"] for c in codes.service_type(kind)[0]["coding"]}
        assert codes.HL7_SERVICE_TYPE in systems


def test_a_full_slot_is_busy_with_capacity_zero() -> None:
    slot = scheduling.slot_resource(
        slot_id="a_b_202601050800",
        schedule="a.b",
        start="2026-01-05T08:00:00+01:00",
        end="2026-01-05T08:15:00+01:00",
        free=0,
        booking_link=None,
        booking_phone="+47 22 00 00 00",
    )
    assert slot["status"] == "busy"
    assert {e["url"]: list(e.values())[1] for e in slot["extension"]} == {
        codes.SLOT_CAPACITY: 0,
        codes.BOOKING_PHONE: "+47 22 00 00 00",
    }
