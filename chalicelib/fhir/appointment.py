"""An appointment as an R4 `Appointment` in the shape of Helsenorge's hn-basis-appointment.

The same resource is PUT to Helsenorge «Timeavtaler» and answered by
`GET /appointments/{id}/fhir`. Mapping: docs/standards.md ("Helsenorge appointments").
"""

from __future__ import annotations

from typing import Any

from chalicelib import settings
from chalicelib.domain.model import Appointment
from chalicelib.fhir import codes, scheduling

# Our status → FHIR Appointment.status. A request waits for the health contact: `pending`.
STATUS = {"requested": "pending", "booked": "booked", "rejected": "cancelled", "cancelled": "cancelled"}
STATUS |= {"arrived": "arrived", "noshow": "noshow"}  # «Møtt» / «Ikke møtt» at the station
DEFAULT_IDENTIFIER_SYSTEM = "urn:timebok:appointment"


def identifier_system() -> str:
    """The system of our appointment ids; set FHIR_IDENTIFIER_SYSTEM to the one agreed with Helsenorge."""
    return settings.get().fhir_identifier_system or DEFAULT_IDENTIFIER_SYSTEM


def _participant_status(status: str, reason: str | None) -> tuple[str, str]:
    """(patient, health contact) participation: who has accepted, who declined."""
    if status == "requested":
        return "accepted", "needs-action"
    if status == "rejected":
        return "accepted", "declined"
    if status == "cancelled":
        return ("accepted", "declined") if reason else ("declined", "accepted")
    return "accepted", "accepted"


def cancel_cause(status: str, reason: str | None) -> str | None:
    """Who ended it: `staff` (a reject, or a cancel with the staff's reason: by hand or by a
    closure), `citizen` (a cancel without one); None while it is not ended. A no-show is a
    status of its own (`noshow`), not a cancellation."""
    if status == "rejected" or (status == "cancelled" and reason):
        return "staff"
    return "citizen" if status == "cancelled" else None


def _cancelation_reason(status: str, reason: str | None) -> dict[str, Any] | None:
    """Volven 8445 (the profile's preferred system) beside HL7's code, with the reason as text."""
    cause = cancel_cause(status, reason)
    if cause is None:
        return None
    volven, hl7 = codes.CANCELLATION_CODES[cause]
    text = "Avbestilt av innbygger" if cause == "citizen" else reason or "Forespørselen ble avslått"
    return {"coding": [dict(volven), dict(hl7)], "text": text}


def _contained(item: Appointment) -> list[dict[str, Any]]:
    """The parties as contained resources (hn-basis-appointment wants them in the resource):

    `#org` the organisation (no-basis-Organization, by organisasjonsnummer where ORGANISATION_NUMBER
    is set); `#kp` the health contact as kommunikasjonspart (by HER-id, `partOf` `#org`) for
    `supportingInformation`; `#hc` the health contact as a HealthcareService (an allowed
    participant actor) provided by `#kp`; `#loc` the location, managed by `#org`."""
    contact, location = item.health_contact, item.location
    number = settings.get().organisation_number
    organisation: dict[str, Any] = {
        "resourceType": "Organization",
        "id": "org",
        "meta": {"profile": [codes.NO_BASIS_ORGANIZATION]},
    }
    if number:
        organisation["identifier"] = [{"system": codes.ORGANISASJONSNUMMER, "value": number}]
    organisation["name"] = contact.name
    party = {
        "resourceType": "Organization",
        "id": "kp",
        "meta": {"profile": [codes.KOMMUNIKASJONSPART]},
        "identifier": [{"system": codes.HER_ID, "value": contact.her_id}],
        "type": [{"text": "Helsetjeneste"}],
        "name": contact.name,
        "partOf": {"reference": "#org"},
    }
    service = {
        "resourceType": "HealthcareService",
        "id": "hc",
        "providedBy": {"reference": "#kp", "display": contact.name},
        "name": contact.name,
    }
    place = {
        "resourceType": "Location",
        "id": "loc",
        "meta": {"profile": [codes.NO_BASIS_LOCATION]},
        "identifier": [{"system": codes.LOCATION_IDENTIFIER, "value": location.id}],
        "name": location.name,
        "address": scheduling.address(location.address),
        "managingOrganization": {"reference": "#org"},
    }
    return [organisation, party, service, place]


def appointment_resource(item: Appointment) -> dict[str, Any]:
    """The R4 Appointment of one appointment as it is now; meta.versionId is its version."""
    timebook, contact, location = item.timebook, item.health_contact, item.location
    her_id, pid = contact.her_id, item.for_pid
    kind = timebook.type or "annet"
    patient_status, contact_status = _participant_status(item.status, item.reason)
    assigner = {
        "type": "Organization",
        "identifier": {"system": codes.HER_ID, "value": her_id},
        "display": contact.name,
    }
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": codes.fhir_id(item.id),
        "meta": {
            "versionId": str(item.version),
            "lastUpdated": codes.instant(item.updated_at),
            "profile": [codes.HN_BASIS_APPOINTMENT],
        },
        "contained": _contained(item),
        "identifier": [{"system": identifier_system(), "value": item.id, "assigner": assigner}],
        "status": STATUS[item.status],
        "serviceCategory": [{"coding": [codes.COMMUNITY_HEALTH_CARE]}],
        "serviceType": codes.service_type(kind),
        "appointmentType": {
            "coding": [
                {"system": codes.V2_APPOINTMENT_TYPE, "code": "ROUTINE", "display": "Routine appointment"},
                codes.hn_appointment_type(kind),
            ],
            "text": timebook.name,
        },
        "description": f"{timebook.name}, {contact.name}"[:1000],
        "supportingInformation": [{"reference": "#kp", "type": "Organization", "display": contact.name}],
        "start": codes.instant(item.start),
        "end": codes.instant(item.end),
        "minutesDuration": item.duration_minutes,
        "created": codes.instant(item.created_at),
        "participant": [
            {
                "actor": {
                    "type": "Patient",
                    "identifier": {"system": codes.person_identifier_system(pid), "value": pid},
                    **({"display": item.for_name} if item.for_name else {}),
                },
                "required": "required",
                "status": patient_status,
            },
            {
                "actor": {"reference": "#loc", "type": "Location", "display": location.name},
                "required": "required",
                "status": "accepted",
            },
            {
                "actor": {"reference": "#hc", "type": "HealthcareService", "display": contact.name},
                "required": "required",
                "status": contact_status,
            },
        ],
    }
    reason = _cancelation_reason(item.status, item.reason)
    if reason:
        resource["cancelationReason"] = reason
    return resource
