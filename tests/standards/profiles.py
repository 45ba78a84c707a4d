"""A FHIR profile validator for the tests and the strict Helsenorge stand-in: the published
StructureDefinitions, not our reading of them.

It loads the StructureDefinitions, ValueSets and CodeSystems of the published packages from a
directory (`package_dir()`: TIMEBOK_FHIR_DIR, else `../shared/fhir/` beside the clone, as
`../shared/API.md` is; any depth of sub-directories, `*.json`). Nothing of those packages is
committed here. Put there:

* NorskHelsenett/nyTimelosningPages (the hn-basis package): at least
  `StructureDefinition-hn-basis-appointment.json`, `StructureDefinition-kommunikasjonspart-Organization.json`,
  `ValueSet-hn-appointment-ServiceCategory-code-vs.json`, `ValueSet-hn-appointment-AppointmentType-code-vs.json`,
  `CodeSystem-Hn-AppointmentTypeProposed-New-Codes-cs.json`;
* inferno-framework/smart-scheduling-links-test-kit `fsh/resources/*.json` (vaccine-location,
  vaccine-location-address, vaccine-schedule, vaccine-slot, ...).

What it checks of a resource against a profile's snapshot:

* cardinalities (min/max) of every element that is not a slice, at every instance of its parent;
* required bindings whose ValueSet is in the directory (codes from the ValueSet's compose; a
  whole CodeSystem when it lists none), also for slices bound by value (a coding belongs to the
  slice when its system is one the ValueSet includes);
* every FHIRPath invariant of severity `error` (fhirpathpy, R4 model; `hasValue()` added), at
  every instance of its element;
* base R4 reference-target rules: a Reference's type (its `type`, its contained target's
  resourceType or its literal `Type/id`) must be one the element's targetProfiles allow;
* contained resources against the profile their `meta.profile` names, where it is in the directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ENV = "TIMEBOK_FHIR_DIR"
HN_BASIS_APPOINTMENT = "http://helsenorge.no/fhir/StructureDefinition/hn-basis-appointment"
WHAT_TO_PUT = (
    "the published FHIR packages are not on this machine: put NorskHelsenett/nyTimelosningPages' "
    "StructureDefinition-*.json, ValueSet-*.json and CodeSystem-*.json and inferno-framework/"
    "smart-scheduling-links-test-kit's fsh/resources/*.json in ../shared/fhir/ (or set TIMEBOK_FHIR_DIR)"
)


def package_dir() -> Path | None:
    """The directory of the published packages, or None where it is missing or empty."""
    place = Path(os.environ.get(ENV) or ROOT.parent / "shared" / "fhir")
    return place if place.is_dir() and any(place.rglob("StructureDefinition-*.json")) else None


@cache
def _index(directory: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(directory).rglob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            continue
        kinds = ("StructureDefinition", "ValueSet", "CodeSystem")
        if isinstance(resource, dict) and resource.get("resourceType") in kinds and resource.get("url"):
            found[resource["url"]] = resource
    return found


def definitions() -> dict[str, dict[str, Any]]:
    directory = package_dir()
    if directory is None:
        raise LookupError(WHAT_TO_PUT)
    return _index(str(directory))


def has(url: str) -> bool:
    return package_dir() is not None and url in definitions()


# ---- walking an instance along an element path ---------------------------------------------------


def _children(node: Any, name: str) -> list[Any]:
    """The values of `name` under a node; `value[x]` matches valueString, valueCoding, ..."""
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = [k for k in node if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    else:
        keys = [name] if name in node else []
    out: list[Any] = []
    for key in keys:
        value = node[key]
        out += value if isinstance(value, list) else [value]
    return out


def _instances(root: dict[str, Any], path: str) -> list[Any]:
    """Every instance of an element path ("Appointment.participant.actor") in a resource."""
    nodes: list[Any] = [root]
    for name in path.split(".")[1:]:
        nodes = [child for node in nodes for child in _children(node, name)]
    return nodes


# ---- value sets -----------------------------------------------------------------------------------


def _codes(valueset_url: str) -> set[tuple[str, str]] | None:
    """(system, code) pairs of a ValueSet in the directory; None when it (or a CodeSystem it takes
    whole) is not there."""
    index = definitions()
    valueset = index.get(valueset_url.split("|")[0])
    if valueset is None:
        return None
    pairs: set[tuple[str, str]] = set()
    for include in (valueset.get("compose") or {}).get("include", []):
        system = include.get("system", "")
        if include.get("concept"):
            pairs |= {(system, c["code"]) for c in include["concept"]}
        elif system in index:
            pairs |= {(system, code) for code in _all_codes(index[system].get("concept", []))}
        else:
            return None
    return pairs


def _all_codes(concepts: list[dict[str, Any]]) -> Iterator[str]:
    for concept in concepts:
        yield concept["code"]
        yield from _all_codes(concept.get("concept", []))


def _codings(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and "coding" in value:
        return list(value["coding"])
    return [value] if isinstance(value, dict) else []


# ---- the validator --------------------------------------------------------------------------------


def _base_type(profile_url: str) -> str:
    """no-basis-HealthcareService → HealthcareService; .../Resource → any."""
    name = profile_url.rstrip("/").rsplit("/", 1)[-1]
    for prefix in ("no-basis-", "hn-basis-"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def _reference_type(reference: dict[str, Any], root: dict[str, Any]) -> str | None:
    if reference.get("type"):
        return str(reference["type"])
    literal = str(reference.get("reference") or "")
    if literal.startswith("#"):
        target = next((r for r in root.get("contained") or [] if f"#{r.get('id')}" == literal), None)
        return target.get("resourceType") if target else None
    if "/" in literal:
        return literal.split("/")[-2]
    return None


def _has_value(collection: list[Any]) -> list[bool]:
    if len(collection) != 1:
        return [False]
    value = getattr(collection[0], "data", collection[0])
    return [value is not None and not isinstance(value, (dict, list))]


def _quiet_trace(collection: list[Any], *_: Any) -> list[Any]:
    return collection  # the engine's trace() prints; an invariant's trace is for humans


def _invariant(root: dict[str, Any], path: str, expression: str) -> bool | str:
    """True/False, or the evaluation error's text (counted as a failure)."""
    import fhirpathpy
    from fhirpathpy.models import models

    # fhirpathpy wants a singleton before the operator-like `.as(T)`; R4's invariants (dom-3) apply it
    # to collections, where it means `ofType(T)`
    expression = expression.replace(".as(", ".ofType(")
    path = path.replace("[x]", "")
    if "resourceType" not in root:  # a data type (Address): paths start below it
        path = path.partition(".")[2]
        if not path and expression.startswith("hasValue()"):
            return bool(root)  # ele-1 on the data type itself: fhirpathpy cannot take it at the root
    whole = f"{path}.all({expression})" if path else f"({expression})"
    try:
        result = fhirpathpy.evaluate(
            root,
            whole,
            {"resource": root, "rootResource": root},
            models["r4"] if "resourceType" in root else None,  # a data type (Address) has no model root
            {
                "userInvocationTable": {
                    "hasValue": {"fn": _has_value, "arity": {0: []}},
                    "trace": {"fn": _quiet_trace, "arity": {1: ["String"], 2: ["String", "Expr"]}},
                }
            },
        )
    except Exception as error:  # the engine's own errors are plain Exceptions
        return f"cannot evaluate ({str(error)[:80]})"
    return result == [True]


def validate(resource: dict[str, Any], profile_url: str) -> list[str]:
    """What in `resource` breaks the profile's snapshot; [] when it conforms."""
    profile = definitions().get(profile_url)
    if profile is None:
        raise LookupError(f"{profile_url} is not in {package_dir()}: {WHAT_TO_PUT}")
    found: list[str] = []
    elements = profile["snapshot"]["element"]
    for element in elements:
        path, element_id = element["path"], element["id"]
        sliced = ":" in element_id
        if not sliced and "." in path:
            parent = path.rsplit(".", 1)[0]
            name = path.rsplit(".", 1)[1]
            for node in _instances(resource, parent):
                count = len(_children(node, name))
                if count < int(element.get("min", 0)):
                    found.append(f"{element_id}: min {element['min']}, found {count}")
                top = element.get("max", "*")
                if top != "*" and count > int(top):
                    found.append(f"{element_id}: max {top}, found {count}")
        binding = element.get("binding") or {}
        if binding.get("strength") == "required" and binding.get("valueSet"):
            found += _binding_problems(resource, element, binding["valueSet"], sliced)
        if not sliced:
            for constraint in element.get("constraint", []):
                if constraint.get("severity") != "error" or not constraint.get("expression"):
                    continue
                if not _instances(resource, path):
                    continue
                verdict = _invariant(resource, path, constraint["expression"])
                if verdict is not True:
                    why = "" if verdict is False else f" {verdict}"
                    found.append(f"{element_id}: invariant {constraint['key']} fails{why}")
            for kind in element.get("type", []):
                if kind.get("code") == "Reference" and kind.get("targetProfile"):
                    allowed = {_base_type(p) for p in kind["targetProfile"]}
                    for reference in _instances(resource, path):
                        actual = _reference_type(reference, resource) if isinstance(reference, dict) else None
                        if "Resource" not in allowed and actual is not None and actual not in allowed:
                            found.append(f"{element_id}: a reference to {actual} (allowed: {sorted(allowed)})")
    for contained in resource.get("contained") or []:
        for url in (contained.get("meta") or {}).get("profile") or []:
            if url in definitions():
                found += [f"contained {contained.get('id')}: {p}" for p in validate(contained, url)]
    return sorted(set(found))


def _binding_problems(resource: dict[str, Any], element: dict[str, Any], valueset: str, sliced: bool) -> list[str]:
    allowed = _codes(valueset)
    if allowed is None:
        return []  # the ValueSet (e.g. a Volven list, a base R4 one) is not in the directory
    found = []
    systems = {system for system, _ in allowed}
    for value in _instances(resource, element["path"]):
        if isinstance(value, str):  # a code
            if sliced:
                continue  # a slice of extensions (by url): which value is whose is not known here
            if not any(code == value for _, code in allowed):
                found.append(f"{element['id']}: {value!r} is not in {valueset}")
            continue
        codings = _codings(value)
        if sliced:  # the codings that belong to this slice: those of the systems it includes
            for coding in codings:
                if coding.get("system") in systems and (coding["system"], coding.get("code")) not in allowed:
                    found.append(f"{element['id']}: {coding.get('code')!r} is not in {valueset}")
        elif not any((c.get("system"), c.get("code")) in allowed for c in codings):
            found.append(f"{element['id']}: no coding from {valueset}")
    return found


def appointment_problems(resource: dict[str, Any]) -> list[str]:
    """hn-basis-appointment's verdict on an Appointment (the stand-in's strict check)."""
    return validate(resource, HN_BASIS_APPOINTMENT)
