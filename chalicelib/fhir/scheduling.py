"""SMART Scheduling Links resources: the `$bulk-publish` manifest, Location, Schedule and Slot.

Specification: github.com/smart-on-fhir/smart-scheduling-links, specification.md (2021 extension
URLs). Each resource is one minified JSON line of an NDJSON file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from chalicelib.fhir import codes

if TYPE_CHECKING:
    from chalicelib.domain.model import Location

COUNTRY = "NO"
STATE = "NO"  # SMART consumers need a two-letter address.state; the manifest's extension.state says NO
_POSTAL = re.compile(r"^(?P<line>.*?)[,\s]+(?P<postal>\d{4})\s+(?P<city>\S.*)$")


def address(text: str) -> dict[str, Any]:
    """'Gaten 1, 0271 Oslo' → line, postalCode, city; what does not parse stays a line.

    `state` is always `NO` (as the manifest's `state`); `district` (the municipality) is the city,
    the poststed, where one parses: the location model has no municipality of its own."""
    text = " ".join(text.split())
    match = _POSTAL.match(text)
    if not match:
        return {"line": [text], "state": STATE, "country": COUNTRY}
    lines = [part.strip() for part in match["line"].split(",") if part.strip()]
    return {
        "line": lines or [text],
        "city": match["city"],
        "district": match["city"],
        "state": STATE,
        "postalCode": match["postal"],
        "country": COUNTRY,
    }


def schedule_id(timebook_id: str, location_id: str) -> str:
    """One Schedule per timebook and location (the service offered there)."""
    return codes.fhir_id(f"{timebook_id}.{location_id}")


def location_resource(location: Location, phone: str | None, url: str | None) -> dict[str, Any]:
    telecom = []
    if phone:
        telecom.append({"system": "phone", "value": phone})
    if url:
        telecom.append({"system": "url", "value": url})
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": codes.fhir_id(location.id),
        "identifier": [{"system": codes.LOCATION_IDENTIFIER, "value": location.id}],
        "name": location.name,
        "telecom": telecom,
        "address": address(location.address),
    }
    if location.directions:
        resource["description"] = location.directions
    return resource


def schedule_resource(
    timebook_id: str, timebook_type: str, timebook_name: str, location_id: str, *about: str
) -> dict[str, Any]:
    """`about`: the timebook's other texts (description, resource) that may name its vaccine product."""
    resource: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": schedule_id(timebook_id, location_id),
        "serviceType": codes.service_type(timebook_type),
        "actor": [{"reference": f"Location/{codes.fhir_id(location_id)}"}],
        "comment": timebook_name,
    }
    product = codes.vaccine_product(timebook_type, timebook_name, *about)
    if product is not None:
        resource["extension"] = [{"url": codes.VACCINE_PRODUCT, "valueCoding": product}]
    return resource


def deep_link(portal_url: str, timebook_id: str, slot_id: str, location_id: str, local_date: str) -> str:
    """The portal's calendar step on that slot's day with the time selected:
    `{PORTAL_URL}/#/timebok/{id}/kalender?sted=...&maaned=YYYY-MM&dato=YYYY-MM-DD&tid={slot id}`."""
    query = urlencode({"sted": location_id, "maaned": local_date[:7], "dato": local_date, "tid": slot_id})
    return f"{portal_url.rstrip('/')}/#/timebok/{quote(timebook_id, safe='')}/kalender?{query}"


def slot_resource(
    *,
    slot_id: str,
    schedule: str,
    start: str,
    end: str,
    free: int,
    booking_link: str | None,
    booking_phone: str | None,
) -> dict[str, Any]:
    """`busy` when no place is free; slot-capacity is the number of free places."""
    extension: list[dict[str, Any]] = [{"url": codes.SLOT_CAPACITY, "valueInteger": free}]
    if booking_link:
        extension.append({"url": codes.BOOKING_DEEP_LINK, "valueUrl": booking_link})
    if booking_phone:
        extension.append({"url": codes.BOOKING_PHONE, "valueString": booking_phone})
    return {
        "resourceType": "Slot",
        "id": codes.fhir_id(slot_id),
        "schedule": {"reference": f"Schedule/{schedule}"},
        "status": "free" if free > 0 else "busy",
        "start": codes.instant(start),
        "end": codes.instant(end),
        "extension": extension,
    }


def ndjson(resources: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in resources).encode()


def manifest(transaction_time: datetime, request_url: str, outputs: list[tuple[str, str]], states: list[str]) -> dict:
    """`outputs`: (resource type, absolute URL); `states`: what the files cover (extension.state)."""
    return {
        "transactionTime": codes.instant(transaction_time),
        "request": request_url,
        "output": [{"type": kind, "url": url, "extension": {"state": states}} for kind, url in outputs],
        "error": [],
    }
