"""What the SMART Scheduling Links spec and our promises require beyond what fhir.resources checks.

fhir.resources (R4B) checks types and cardinality only: not status codes, not the extensions the
spec asks for, not that an instant carries an offset. These checks do; each returns the problems.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
FHIR_ID = re.compile(r"^[A-Za-z0-9.-]{1,64}$")
REGISTRY = "http://fhir-registry.smarthealthit.org/StructureDefinition/"
SLOT_CAPACITY, DEEP_LINK, BOOKING_PHONE = (
    f"{REGISTRY}slot-capacity",
    f"{REGISTRY}booking-deep-link",
    f"{REGISTRY}booking-phone",
)
ABSOLUTE = re.compile(r"^https?://[^/\s]+/\S*$")


def parse_r4b(resource: dict[str, Any]) -> Any:
    """Parses with the R4B model of the resource's type; raises if it does not."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    found = []
    if not INSTANT.match(str(manifest.get("transactionTime", ""))):
        found.append("transactionTime is not an instant with offset")
    if not ABSOLUTE.match(str(manifest.get("request", ""))) or not manifest["request"].endswith("$bulk-publish"):
        found.append("request is not the manifest's absolute URL")
    if manifest.get("error") != []:
        found.append("error is not []")
    outputs = manifest.get("output") or []
    if {o.get("type") for o in outputs} != {"Location", "Schedule", "Slot"}:
        found.append("output does not name Location, Schedule and Slot files")
    for output in outputs:
        if not ABSOLUTE.match(str(output.get("url", ""))):
            found.append(f"output url not absolute: {output.get('url')}")
        state = (output.get("extension") or {}).get("state")
        if not isinstance(state, list) or not state:
            found.append("output without extension.state")
    return found


def resource_problems(resource: dict[str, Any]) -> list[str]:
    kind, found = resource.get("resourceType"), []
    if not FHIR_ID.match(str(resource.get("id", ""))):
        found.append(f"{kind}: id {resource.get('id')!r} is not a FHIR id")
    if kind == "Location":
        address = resource.get("address") or {}
        for name in ("line", "city", "postalCode", "country"):
            if not address.get(name):
                found.append(f"Location: address.{name} missing")
        if not resource.get("name") or not resource.get("telecom"):
            found.append("Location: name or telecom missing")
    elif kind == "Schedule":
        actors = resource.get("actor") or []
        if len(actors) != 1 or not str(actors[0].get("reference", "")).startswith("Location/"):
            found.append("Schedule: actor is not one Location")
        if not resource.get("serviceType"):
            found.append("Schedule: no serviceType")
    elif kind == "Slot":
        found += _slot_problems(resource)
    else:
        found.append(f"unexpected resourceType {kind!r}")
    return found


def _slot_problems(slot: dict[str, Any]) -> list[str]:
    found = []
    if slot.get("status") not in ("free", "busy"):
        found.append(f"Slot: status {slot.get('status')!r}")
    for name in ("start", "end"):
        if not INSTANT.match(str(slot.get(name, ""))) or str(slot.get(name, "")).endswith("Z"):
            found.append(f"Slot: {name} is not an instant with offset")
    if not str(slot.get("schedule", {}).get("reference", "")).startswith("Schedule/"):
        found.append("Slot: schedule is not a Schedule reference")
    extensions = slot.get("extension") or []
    urls = [e.get("url") for e in extensions]
    if not set(urls) <= {SLOT_CAPACITY, DEEP_LINK, BOOKING_PHONE} or len(urls) != len(set(urls)):
        found.append(f"Slot: unexpected or repeated extensions {urls}")
    capacity = [e.get("valueInteger") for e in extensions if e.get("url") == SLOT_CAPACITY]
    if len(capacity) != 1 or not isinstance(capacity[0], int) or capacity[0] < 0:
        found.append("Slot: no slot-capacity valueInteger")
    elif (capacity[0] == 0) != (slot.get("status") == "busy"):
        found.append("Slot: busy if and only if no place is free")
    links = [e.get("valueUrl") for e in extensions if e.get("url") == DEEP_LINK]
    if len(links) != 1 or not ABSOLUTE.match(str(links[0])):
        found.append("Slot: no absolute booking-deep-link")
    return found


def ndjson_lines(body: bytes) -> list[dict[str, Any]]:
    text = body.decode("utf-8")
    assert text.endswith("\n") or not text
    return [json.loads(line) for line in text.splitlines()]
