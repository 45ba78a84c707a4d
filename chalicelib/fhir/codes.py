"""The identifiers, code systems and extension URLs Timebok's FHIR resources use, in one place."""

from __future__ import annotations

import re
from datetime import datetime

from chalicelib import clock

# Norwegian identifier systems (Volven / HIS 80503).
FODSELSNUMMER = "urn:oid:2.16.578.1.12.4.1.4.1"
D_NUMMER = "urn:oid:2.16.578.1.12.4.1.4.2"
HER_ID = "urn:oid:2.16.578.1.12.4.1.2"
ORGANISASJONSNUMMER = "urn:oid:2.16.578.1.12.4.1.4.101"  # Enhetsregisteret (ENH)
LOCATION_IDENTIFIER = "urn:timebok:location"  # our location ids: stable, never reused

# Helsenorge's profiles (hn-basis package, NorskHelsenett/nyTimelosningPages) and their bindings.
HN_BASIS_APPOINTMENT = "http://helsenorge.no/fhir/StructureDefinition/hn-basis-appointment"
KOMMUNIKASJONSPART = "http://helsenorge.no/fhir/StructureDefinition/kommunikasjonspart-Organization"
NO_BASIS_ORGANIZATION = "http://hl7.no/fhir/StructureDefinition/no-basis-Organization"
NO_BASIS_LOCATION = "http://hl7.no/fhir/StructureDefinition/no-basis-Location"
SERVICE_CATEGORY = "http://terminology.hl7.org/CodeSystem/service-category"
# hn-appointment-ServiceCategory-code-vs (required): municipal services are Community Health Care.
COMMUNITY_HEALTH_CARE = {"system": SERVICE_CATEGORY, "code": "7", "display": "Community Health Care"}
VOLVEN_INNBYGGER_TIMETYPE = "urn:oid:2.16.578.1.12.4.1.1.7617"
HN_APPOINTMENT_TYPE = "http://helsenorge.no/fhir/CodeSystem/Hn-AppointmentTypeProposed-New-Codes-cs"

# SMART Scheduling Links, the 2021 extension URLs (the later HL7 draft dropped slot-capacity).
SMART_REGISTRY = "http://fhir-registry.smarthealthit.org"
SLOT_CAPACITY = f"{SMART_REGISTRY}/StructureDefinition/slot-capacity"
BOOKING_DEEP_LINK = f"{SMART_REGISTRY}/StructureDefinition/booking-deep-link"
BOOKING_PHONE = f"{SMART_REGISTRY}/StructureDefinition/booking-phone"
SMART_SERVICE_TYPE = f"{SMART_REGISTRY}/CodeSystem/service-type"
HL7_SERVICE_TYPE = "http://terminology.hl7.org/CodeSystem/service-type"

# Our own code system for timebook types (no national code list covers them one to one).
TIMEBOOK_TYPE = "urn:timebok:timebook-type"
V2_APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
CANCELLATION_REASON = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
# Volven 8445 «Ventetid sluttkode», the system hn-basis-appointment prefers for cancelationReason.
VOLVEN_CANCELLATION_REASON = "urn:oid:2.16.578.1.12.4.1.1.8445"
# Why an appointment ended → (Volven 8445, HL7 appointment-cancellation-reason); docs/standards.md.
CANCELLATION_CODES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "citizen": (
        {"system": VOLVEN_CANCELLATION_REASON, "code": "2", "display": "Pasienten ønsker ikke helsehjelp"},
        {"system": CANCELLATION_REASON, "code": "pat", "display": "Patient"},
    ),
    "staff": (
        {
            "system": VOLVEN_CANCELLATION_REASON,
            "code": "9",
            "display": "Annen årsak til ventetid slutt/helsehjelp uaktuelt",
        },
        {"system": CANCELLATION_REASON, "code": "prov", "display": "Provider"},
    ),
}

# SMART Scheduling Links' vaccine-product extension on a vaccine Schedule: a CVX coding (the test
# kit binds it to SMART Health Cards' covid vaccine value set). Known only where the timebook's
# name, description or resource names one product (whole words, any case).
VACCINE_PRODUCT = f"{SMART_REGISTRY}/StructureDefinition/vaccine-product"
CVX = "http://hl7.org/fhir/sid/cvx"
VACCINE_PRODUCTS: dict[str, dict[str, str]] = {
    "207": {"system": CVX, "code": "207", "display": "Moderna COVID-19 Vaccine"},
    "208": {"system": CVX, "code": "208", "display": "Pfizer-BioNTech COVID-19 Vaccine"},
    "210": {"system": CVX, "code": "210", "display": "AstraZeneca COVID-19 Vaccine"},
    "211": {"system": CVX, "code": "211", "display": "Novavax COVID-19 Vaccine"},
    "212": {"system": CVX, "code": "212", "display": "Janssen COVID-19 Vaccine"},
}
PRODUCT_NAMES: dict[str, str] = {
    **dict.fromkeys(("spikevax", "moderna"), "207"),
    **dict.fromkeys(("comirnaty", "pfizer", "biontech"), "208"),
    **dict.fromkeys(("vaxzevria", "astrazeneca"), "210"),
    **dict.fromkeys(("nuvaxovid", "novavax"), "211"),
    **dict.fromkeys(("jcovden", "janssen"), "212"),
}
VACCINE_TYPES = frozenset({"koronavaksine", "vaksine"})

TIMEBOOK_TYPES: dict[str, str] = {
    "koronatest": "Koronatest",
    "koronavaksine": "Koronavaksine",
    "lab": "Laboratorieprøve",
    "vaksine": "Vaksine",
    "konsultasjon": "Konsultasjon",
    "annet": "Annet",
}
IMMUNIZATION = {"system": HL7_SERVICE_TYPE, "code": "57", "display": "Immunization"}
GENERAL_PRACTICE = {"system": HL7_SERVICE_TYPE, "code": "124", "display": "General Practice"}
# Every timebook type has one HL7 service-type (SMART consumers keep only schedules coded with one):
# vaccines are Immunization; tests, lab and consultations at the municipal health service are
# General Practice (HL7 has no code for a covid test; docs/standards.md).
HL7_SERVICE_TYPES: dict[str, dict[str, str]] = {
    "koronavaksine": IMMUNIZATION,
    "vaksine": IMMUNIZATION,
}
# Helsenorge's appointment types (hn-appointment-AppointmentType-code-vs), official displays.
HN_APPOINTMENT_TYPES: dict[str, dict[str, str]] = {
    "koronavaksine": {"system": VOLVEN_INNBYGGER_TIMETYPE, "code": "Vaksine", "display": "Vaksine time"},
    "vaksine": {"system": VOLVEN_INNBYGGER_TIMETYPE, "code": "Vaksine", "display": "Vaksine time"},
    "koronatest": {"system": VOLVEN_INNBYGGER_TIMETYPE, "code": "Lab", "display": "Lab time"},
    "lab": {"system": VOLVEN_INNBYGGER_TIMETYPE, "code": "Lab", "display": "Lab time"},
}
KONSULTASJON = {"system": HN_APPOINTMENT_TYPE, "code": "Konsultasjon", "display": "Konsultasjon"}
COVID19_IMMUNIZATION = {
    "system": SMART_SERVICE_TYPE,
    "code": "covid19-immunization",
    "display": "COVID-19 Immunization Appointment",
}


def timebook_type_coding(timebook_type: str) -> dict[str, str]:
    return {"system": TIMEBOOK_TYPE, "code": timebook_type, "display": TIMEBOOK_TYPES.get(timebook_type, timebook_type)}


def service_type(timebook_type: str) -> list[dict]:
    """Schedule.serviceType: our type and its HL7 service-type; covid vaccines also SMART's code."""
    coding = [timebook_type_coding(timebook_type), HL7_SERVICE_TYPES.get(timebook_type, GENERAL_PRACTICE)]
    if timebook_type == "koronavaksine":
        coding.append(COVID19_IMMUNIZATION)
    return [{"coding": coding}]


def hn_appointment_type(timebook_type: str) -> dict[str, str]:
    return HN_APPOINTMENT_TYPES.get(timebook_type, KONSULTASJON)


def person_identifier_system(pid: str) -> str:
    """A D-nummer's first digit is 4-7 (day + 40); anything else is a fødselsnummer."""
    return D_NUMMER if pid[:1] in "4567" else FODSELSNUMMER


def instant(value: str | datetime) -> str:
    """A FHIR instant in Oslo time with its offset, to the second (2024-03-01T10:00:00+01:00)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("a FHIR instant needs an offset")
    return clock.local(moment).isoformat(timespec="seconds")


_NOT_ID = re.compile(r"[^A-Za-z0-9.-]")


def fhir_id(value: str) -> str:
    """A FHIR id ([A-Za-z0-9-.]{1,64}): our ids with '_' (slot ids) become '.'."""
    return _NOT_ID.sub(".", value)[:64]


_WORD = re.compile(r"[a-zæøå]+")


def vaccine_product(timebook_type: str, *texts: str) -> dict[str, str] | None:
    """The CVX coding of the one vaccine product a vaccine timebook's texts name, else None (no
    product named, or more than one: then the timebook does not say which)."""
    if timebook_type not in VACCINE_TYPES:
        return None
    named = {PRODUCT_NAMES[word] for text in texts for word in _WORD.findall(text.casefold()) if word in PRODUCT_NAMES}
    return dict(VACCINE_PRODUCTS[named.pop()]) if len(named) == 1 else None
