"""An appointment as an R4 `Appointment` in the shape of Helsenorge's hn-basis-appointment.

The same resource is PUT to Helsenorge «Timeavtaler» and answered by
`GET /appointments/{id}/fhir`. Mapping: docs/standards.md ("Helsenorge appointments").
"""

from __future__ import annotations

from typing import Any

from chalicelib import settings
from chalicelib.domain.model import Appointment
from chalicelib.fhir import codes

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


def _cancelation_reason(status: str, reason: str | None) -> dict[str, Any] | None:
    """Staff (a reason is given, also for a closure) → `prov`; the citizen (no reason) → `pat`."""
    if status not in ("rejected", "cancelled"):
        return None
    if status == "rejected" or reason:
        coding = {"system": codes.CANCELLATION_REASON, "code": "prov", "display": "Provider"}
        text = reason or "Forespørselen ble avslått"
    else:
        coding = {"system": codes.CANCELLATION_REASON, "code": "pat", "display": "Patient"}
        text = "Avbestilt av innbygger"
    return {"coding": [coding], "text": text}


def appointment_resource(item: Appointment) -> dict[str, Any]:
    """The R4 Appointment of one appointment as it is now; meta.versionId is its version."""
    timebook, contact, location = item.timebook, item.health_contact, item.location
    her_id, pid = contact.her_id, item.for_pid
    patient_status, contact_status = _participant_status(item.status, item.reason)
    organisation = {
        "type": "Organization",
        "identifier": {"system": codes.HER_ID, "value": her_id},
        "display": contact.name,
    }
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": codes.fhir_id(item.id),
        "meta": {"versionId": str(item.version), "lastUpdated": codes.instant(item.updated_at)},
        "identifier": [{"system": identifier_system(), "value": item.id, "assigner": organisation}],
        "status": STATUS[item.status],
        "serviceCategory": [{"coding": [codes.timebook_type_coding(timebook.type or "annet")]}],
        "serviceType": codes.service_type(timebook.type or "annet"),
        "appointmentType": {
            "coding": [{"system": codes.V2_APPOINTMENT_TYPE, "code": "ROUTINE", "display": "Routine appointment"}],
            "text": timebook.name,
        },
        "description": f"{timebook.name}, {contact.name}",
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
                "actor": {
                    "reference": f"Location/{codes.fhir_id(location.id)}",
                    "display": location.name,
                },
                "required": "required",
                "status": "accepted",
            },
            {"actor": organisation, "required": "required", "status": contact_status},
        ],
    }
    reason = _cancelation_reason(item.status, item.reason)
    if reason:
        resource["cancelationReason"] = reason
    return resource
