"""The served OpenAPI 3.1 document (`GET /openapi.json`), built from the routes as app.py declares
them (routes.py) and the pydantic models of schemas/.

Each route's declaration says what it takes (body, query, headers), what it answers on success
and which errors of API.md it can give; this module adds what every route shares (throttling,
AWS faults, a token's refusals, a bad body) and the components. Request bodies use the models'
validation schemas, responses their serialization schemas (by alias, so `for`, `from` and `to`
appear as in API.md). tests/fuzz/ checks the live service against the document.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib import settings
from chalicelib.http import schemas
from chalicelib.http.routes import KINDS, Items, Route, Routes

REF = "#/components/schemas/{model}"

TAGS = [
    {"name": "public", "description": "Discovery and availability; no token (steps 1-4)."},
    {"name": "citizen", "description": "Holds and appointments; a token with role `citizen` (steps 4-6)."},
    {"name": "staff", "description": "Set-up and administration; role `staff`, the HER-id in `orgs`."},
    {"name": "local", "description": "Local stage only (`make run`): not deployed."},
]

# ---- errors ----------------------------------------------------------------------------------

ERROR_DESCRIPTIONS = {
    400: "Malformed or invalid input (`fields` lists each invalid field).",
    401: "No token, or a bad one.",
    403: "The token's role or organisations do not allow this.",
    404: "No such resource.",
    409: "Conflict: slot full, hold gone, deadline passed, wrong state.",
    410: "The hold has expired.",
    415: "The request body is not `application/json`.",
    429: "Throttled; try again after `Retry-After` seconds.",
    503: "Temporarily unavailable; try again after `Retry-After` seconds.",
}
RETRY_AFTER_STATUSES = (429, 503)
RESPONSE_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    415: "UnsupportedMediaType",
    429: "Throttled",
    503: "Unavailable",
}

# Every operation can be throttled or meet an AWS fault; signed-in ones can lack a valid token,
# or have the wrong role (citizen_only, staff_only); a body can be invalid or of another type.
ALWAYS = (429, 503)
SIGNED_IN = (401, 403)
WITH_BODY = (400, 415)

# The schema of a request body in a type other than JSON (a route's `content_types`).
BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "text/csv": {
        "type": "string",
        "description": "CSV in UTF-8 (a BOM allowed): the first column of each line is read, a header line skipped",
    }
}

# ---- building --------------------------------------------------------------------------------

Refs = dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]


def _model(name: str) -> type[BaseModel]:
    model = getattr(schemas, name)
    assert isinstance(model, type) and issubclass(model, BaseModel), f"{name} is not a model of schemas/"
    return model


def _answer_model(route: Route) -> type[BaseModel] | None:
    if isinstance(route.ok, Items):
        return _model(route.ok.model)
    return None if route.ok in KINDS else _model(route.ok)


def _body(route: Route) -> type[BaseModel] | None:
    """The request body's JSON model: the view's `body` annotation, or the route's `body_model`."""
    return _model(route.body_name) if route.body_name else route.body_model()


def _models(routes: list[Route]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(schemas.ErrorOut, "serialization")]
    for route in routes:
        if (body := _body(route)) is not None:
            wanted.append((body, "validation"))
        if (answer := _answer_model(route)) is not None:
            wanted.append((answer, "serialization"))
    return list(dict.fromkeys(wanted))


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _success(route: Route, refs: Refs) -> dict[str, Any]:
    if route.ok == "empty":
        return {"description": "Done; no body."}
    if route.ok == "ics":
        return {
            "description": "The appointment as an iCalendar file.",
            "content": {"text/calendar": {"schema": {"type": "string"}}},
        }
    if route.ok == "openapi":
        return {"description": "The OpenAPI 3.1 document.", "content": _json({"type": "object"})}
    if route.ok == "fhir":
        return {
            "description": "An HL7 FHIR R4 resource (docs/standards.md).",
            "content": {"application/fhir+json": {"schema": {"type": "object", "required": ["resourceType"]}}},
        }
    if route.ok == "redirect":
        location = {"description": "Where the static copy is.", "schema": {"type": "string", "format": "uri"}}
        return {"description": "Found: the published static copy.", "headers": {"Location": location}}
    if route.ok == "json":
        return {"description": "OK.", "content": _json({"type": "object"})}
    answer = _answer_model(route)
    assert answer is not None, f"{route.method} {route.path}: unknown answer {route.ok!r}"
    if isinstance(route.ok, Items):
        schema: dict[str, Any] = {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": refs[(answer, "serialization")]}},
        }
        if route.paged:
            schema["required"].append("next_cursor")
            schema["properties"]["next_cursor"] = {"type": ["string", "null"], "description": "null on the last page"}
        content = _json(schema)
        if route.ok.csv:
            content["text/csv"] = {"schema": {"type": "string", "description": "UTF-8 with BOM, `;`-separated"}}
        return {"description": "The items.", "content": content}
    return {"description": "OK.", "content": _json(refs[(answer, "serialization")])}


def _operation(route: Route, refs: Refs) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "description": "An opaque id.", "schema": {"type": "string"}}
        for name in route.path_params
    ] + [p.as_openapi() for p in route.params]
    success = _success(route, refs)
    responses: dict[str, Any] = {str(route.status): success}
    for status, text in route.also.items():
        responses[str(status)] = {**success, "description": text}
    body = _body(route)
    errors = {*route.errors, *ALWAYS, *(SIGNED_IN if route.signed_in else ()), *(WITH_BODY if body else ())}
    if route.path_params:
        errors.add(404)
    for status in sorted(errors):
        responses[str(status)] = {"$ref": f"#/components/responses/{RESPONSE_NAMES[status]}"}
    result: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": parameters,
        "responses": dict(sorted(responses.items())),
    }
    if route.description:
        result["description"] = route.description
    if not parameters:
        del result["parameters"]
    if body is not None:
        json_body = refs[(body, "validation")]
        content = {
            kind: {"schema": json_body if kind == "application/json" else BODY_SCHEMAS[kind]}
            for kind in route.content_types
        }
        result["requestBody"] = {"required": True, "content": content}
    result["security"] = [{"bearerAuth": []}] if route.signed_in else []
    return result


def _error_responses(error_ref: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for status, name in RESPONSE_NAMES.items():
        response: dict[str, Any] = {"description": ERROR_DESCRIPTIONS[status], "content": _json(error_ref)}
        if status in RETRY_AFTER_STATUSES:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        found[name] = response
    return found


def build(routes: Iterable[Route], dev_tokens: bool) -> dict[str, Any]:
    """The document of these routes; the `local` ones (POST /dev/token...) only where the stage serves
    them (DEV_TOKENS=enabled)."""
    chosen = [route for route in routes if dev_tokens or route.tag != "local"]
    refs, definitions = models_json_schema(_models(chosen), by_alias=True, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in chosen:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Timebok",
            "version": "1.0.0",
            "description": "Booking of resource timebooks (ressurstimebøker) for a citizen health portal. Errors "
            'are `{"error": {"code", "message", "fields"?}}`; times are ISO 8601 with offset (Europe/Oslo).',
        },
        "tags": [t for t in TAGS if dev_tokens or t["name"] != "local"],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "responses": _error_responses(refs[(schemas.ErrorOut, "serialization")]),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


@functools.cache
def document(routes: Routes) -> dict[str, Any]:
    """The document of the app's routes for this process's stage, built on the first GET /openapi.json
    and kept (a Lambda keeps it across invocations); a cold start that never serves it never builds it."""
    return build(routes.declared, settings.get().dev_tokens)
