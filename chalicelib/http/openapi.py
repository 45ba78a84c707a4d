"""The served OpenAPI 3.1 document (`GET /openapi.json`), built from the pydantic models of schemas/.

`OPERATIONS` is the declarative table: one row per route of app.py, with what it takes (body,
query, headers), what it answers on success and which errors of API.md it can give. Request
bodies use the models' validation schemas, responses their serialization schemas (by alias, so
`for`, `from` and `to` appear as in API.md). tests/http/test_openapi.py keeps this table and
app.py's routes in step; tests/fuzz/ checks the live service against the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib import settings
from chalicelib.http import schemas

Tag = Literal["public", "citizen", "staff", "local"]
REF = "#/components/schemas/{model}"

TAGS = [
    {"name": "public", "description": "Discovery and availability; no token (steps 1-4)."},
    {"name": "citizen", "description": "Holds and appointments; a token with role `citizen` (steps 4-6)."},
    {"name": "staff", "description": "Set-up and administration; role `staff`, the HER-id in `orgs`."},
    {"name": "local", "description": "Local stage only (`make run`): not deployed."},
]


@dataclass(frozen=True)
class Param:
    name: str
    location: Literal["query", "header"]
    schema: dict[str, Any]
    description: str
    required: bool = False

    def as_openapi(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.location,
            "required": self.required,
            "description": self.description,
            "schema": self.schema,
        }


@dataclass(frozen=True)
class Items:
    """A list answer: `{"items": [...]}` of this model (and `next_cursor` when it is paged)."""

    model: type[BaseModel]
    paged: bool = False  # also `next_cursor` (API.md: paging)


# What a success answers: a model, a list of one, `text/calendar`, nothing (204), this document,
# a FHIR resource, a redirect (the SMART manifest) or free JSON (local stand-ins).
Answer = type[BaseModel] | Items | Literal["ics", "empty", "openapi", "fhir", "redirect", "json"]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: Tag
    answer: Answer
    status: int = 200
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    also: dict[int, str] = field(default_factory=dict)  # further successes: status -> description
    description: str = ""

    @property
    def signed_in(self) -> bool:
        return self.tag in ("citizen", "staff")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


# ---- parameters ------------------------------------------------------------------------------

# The app's own rule (discovery._MONTH), in ASCII digits.
MONTH = Param(
    "month", "query", {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}, "The month, `YYYY-MM`.", True
)
DAY = Param("date", "query", {"type": "string", "format": "date"}, "The day, `YYYY-MM-DD`.", True)
OPTIONAL_DAY = Param("date", "query", {"type": "string", "format": "date"}, "Only this day, `YYYY-MM-DD`.")
LOCATION = Param("location", "query", {"type": "string"}, "Only this location of the timebook (its id).")
TIMEBOOK = Param("timebook_id", "query", {"type": "string", "minLength": 1}, "The timebook.", True)
STATUS = Param(
    "status",
    "query",
    {"type": "string", "enum": ["requested", "booked", "rejected", "cancelled"]},
    "Only appointments in this status.",
)
LIMIT = Param("limit", "query", {"type": "string", "pattern": r"^[0-9]{1,3}$"}, "Items per page, 1-200 (default 50).")
CURSOR = Param("cursor", "query", {"type": "string", "maxLength": 1000}, "`next_cursor` of the previous page.")
PAGE = (LIMIT, CURSOR)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": 200},
    "A client-chosen key: repeating the request with the same key and body within 24 hours answers the "
    "first result (200) instead of making another; the same key with another body is 409.",
)

LIMIT = Param("limit", "query", {"type": "string", "pattern": r"^[0-9]{1,3}$"}, "Items per page: 1-200, default 50.")
CURSOR = Param("cursor", "query", {"type": "string"}, "The `next_cursor` of the previous page.")

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

# ---- the table -------------------------------------------------------------------------------

OPERATIONS: tuple[Operation, ...] = (
    # public: discovery and availability (steps 1-4)
    Operation(
        "GET",
        "/health-contacts",
        "listHealthContacts",
        "Health contacts that offer booking (step 1)",
        "public",
        Items(schemas.HealthContactOut),
    ),
    Operation(
        "GET",
        "/health-contacts/{hc_id}/timebooks",
        "listTimebooks",
        "The timebooks of a health contact (step 2)",
        "public",
        Items(schemas.TimebookSummaryOut),
        errors=(404,),
    ),
    Operation(
        "GET",
        "/timebooks/{timebook_id}",
        "getTimebook",
        "A timebook: resource, form and locations",
        "public",
        schemas.TimebookOut,
        errors=(404,),
    ),
    Operation(
        "GET",
        "/timebooks/{timebook_id}/calendar",
        "monthCalendar",
        "Free places per day of a month (step 3)",
        "public",
        schemas.CalendarOut,
        params=(MONTH, LOCATION),
        errors=(400, 404),
    ),
    Operation(
        "GET",
        "/timebooks/{timebook_id}/slots",
        "freeSlots",
        "Bookable slots of a day, by start (step 4)",
        "public",
        schemas.SlotsOut,
        params=(DAY, LOCATION),
        errors=(400, 404),
    ),
    Operation(
        "GET",
        "/openapi.json",
        "openapiDocument",
        "This OpenAPI document",
        "public",
        "openapi",
    ),
    # citizen: holds and appointments (steps 4-6)
    Operation(
        "POST",
        "/holds",
        "createHold",
        "Hold a slot, or the first available time, for a while",
        "citizen",
        schemas.HoldOut,
        status=201,
        body=schemas.HoldIn,
        params=(IDEMPOTENCY_KEY,),
        errors=(*WITH_BODY, 404, 409),
        also={200: "The hold of an earlier request with the same Idempotency-Key."},
        description="Give either `slot_id`, or `timebook_id` (with `location_id` and `date` optionally) for the "
        "first available time from `date`, else from now. 409 `slot_unavailable` when nothing is free.",
    ),
    Operation(
        "DELETE",
        "/holds/{hold_id}",
        "deleteHold",
        "Give a hold back",
        "citizen",
        "empty",
        status=204,
        errors=(404,),
    ),
    Operation(
        "POST",
        "/appointments",
        "createAppointment",
        "Book: from a hold or a slot (step 5)",
        "citizen",
        schemas.AppointmentOut,
        status=201,
        body=schemas.AppointmentIn,
        params=(IDEMPOTENCY_KEY,),
        errors=(*WITH_BODY, 404, 409, 410),
        also={200: "The appointment of an earlier request with the same Idempotency-Key."},
        description="Give either `hold_id` or `slot_id`; `answers` maps the timebook form's question ids to answers.",
    ),
    Operation(
        "GET",
        "/appointments",
        "listAppointments",
        "The caller's appointments and those of people they represent",
        "citizen",
        Items(schemas.AppointmentOut, paged=True),
        params=PAGE,
        errors=(400,),
    ),
    Operation(
        "GET",
        "/appointments/{appointment_id}",
        "getAppointment",
        "An appointment",
        "citizen",
        schemas.AppointmentOut,
        errors=(404,),
    ),
    Operation(
        "GET",
        "/appointments/{appointment_id}/ics",
        "appointmentCalendar",
        "An appointment as iCalendar",
        "citizen",
        "ics",
        errors=(404,),
    ),
    Operation(
        "GET",
        "/appointments/{appointment_id}/fhir",
        "appointmentFhir",
        "An appointment as an HL7 FHIR R4 Appointment (as sent to Helsenorge)",
        "citizen",
        "fhir",
        errors=(404,),
    ),
    Operation(
        "POST",
        "/appointments/{appointment_id}/cancel",
        "cancelAppointment",
        "Cancel an appointment",
        "citizen",
        schemas.AppointmentOut,
        errors=(404, 409),
        description="409 `cancel_deadline_passed` after the timebook's deadline, `wrong_state` if not active.",
    ),
    Operation(
        "POST",
        "/appointments/{appointment_id}/reschedule",
        "rescheduleAppointment",
        "Move an appointment to another slot; the old place is freed in the same step",
        "citizen",
        schemas.AppointmentOut,
        body=schemas.RescheduleIn,
        errors=(*WITH_BODY, 404, 409),
    ),
    Operation(
        "GET",
        "/inbox",
        "inbox",
        "Messages about the caller's appointments",
        "citizen",
        Items(schemas.InboxMessageOut, paged=True),
        params=PAGE,
        errors=(400,),
    ),
    Operation(
        "POST",
        "/waitlist",
        "joinWaitlist",
        "Wait for a place in a timebook (at a location, in a time window)",
        "citizen",
        schemas.WaitlistEntryOut,
        status=201,
        body=schemas.WaitlistIn,
        errors=(*WITH_BODY, 404, 409),
        description="One live entry per person and timebook (409 `already_waiting`). A freed place in a matching "
        "slot is offered first come, first offered: a hold for `waitlist_offer_minutes`, booked with "
        "POST /appointments {hold_id}.",
    ),
    Operation(
        "GET",
        "/waitlist",
        "listWaitlist",
        "The caller's waitlist entries and those of people they represent, with open offers",
        "citizen",
        Items(schemas.WaitlistEntryOut, paged=True),
        params=(LIMIT, CURSOR),
        errors=(400,),
    ),
    Operation(
        "DELETE",
        "/waitlist/{entry_id}",
        "withdrawFromWaitlist",
        "Leave the waitlist, or decline an offer (its place goes to the next)",
        "citizen",
        "empty",
        status=204,
        errors=(404, 409),
    ),
    # staff: set-up and administration
    Operation(
        "POST",
        "/admin/health-contacts",
        "createHealthContact",
        "Register a health contact",
        "staff",
        schemas.HealthContactOut,
        status=201,
        body=schemas.HealthContactIn,
        errors=(*WITH_BODY, 409),
    ),
    Operation(
        "POST",
        "/admin/timebooks",
        "createTimebook",
        "Create a timebook",
        "staff",
        schemas.TimebookOut,
        status=201,
        body=schemas.TimebookIn,
        errors=(*WITH_BODY, 404),
    ),
    Operation(
        "POST",
        "/admin/timebooks/{timebook_id}/locations",
        "createLocation",
        "Add a location to a timebook",
        "staff",
        schemas.LocationOut,
        status=201,
        body=schemas.LocationIn,
        errors=(*WITH_BODY, 404),
    ),
    Operation(
        "POST",
        "/admin/timebooks/{timebook_id}/schedules",
        "createSchedule",
        "Make slots for a window of days; posting the same window again makes none twice",
        "staff",
        schemas.ScheduleOut,
        status=201,
        body=schemas.ScheduleIn,
        errors=(*WITH_BODY, 404),
    ),
    Operation(
        "GET",
        "/admin/timebooks/{timebook_id}/overview",
        "resourceOverview",
        "Per slot of a day: capacity, booked, held and who",
        "staff",
        Items(schemas.OverviewSlotOut),
        params=(DAY, LOCATION),
        errors=(400, 404),
    ),
    Operation(
        "GET",
        "/admin/appointments",
        "staffAppointments",
        "A timebook's appointments",
        "staff",
        Items(schemas.AppointmentOut, paged=True),
        params=(TIMEBOOK, STATUS, OPTIONAL_DAY, *PAGE),
        errors=(400, 404),
    ),
    Operation(
        "POST",
        "/admin/appointments/{appointment_id}/confirm",
        "confirmAppointment",
        "Confirm a requested appointment (status `booked`)",
        "staff",
        schemas.AppointmentOut,
        errors=(404, 409),
    ),
    Operation(
        "POST",
        "/admin/appointments/{appointment_id}/reject",
        "rejectAppointment",
        "Reject a requested appointment (status `rejected`)",
        "staff",
        schemas.AppointmentOut,
        body=schemas.ReasonIn,
        errors=(*WITH_BODY, 404, 409),
    ),
    Operation(
        "POST",
        "/admin/appointments/{appointment_id}/cancel",
        "staffCancelAppointment",
        "Cancel an appointment (status `cancelled`)",
        "staff",
        schemas.AppointmentOut,
        body=schemas.ReasonIn,
        errors=(*WITH_BODY, 404, 409),
    ),
    # open standards
    Operation(
        "GET",
        "/fhir/$bulk-publish",
        "bulkPublishManifest",
        "The SMART Scheduling Links manifest: a redirect to its published static copy",
        "public",
        "redirect",
        status=302,
        description="The manifest names NDJSON files of FHIR R4 Location, Schedule and Slot (docs/standards.md).",
    ),
    Operation(
        "PATCH",
        "/admin/slots/{slot_id}",
        "changeSlot",
        "Change a slot's capacity, or close or reopen it",
        "staff",
        schemas.SlotAdminOut,
        body=schemas.SlotPatchIn,
        errors=(*WITH_BODY, 404, 409),
        description="409 `capacity_below_taken` when places that a lower capacity removes are taken.",
    ),
    Operation(
        "POST",
        "/admin/timebooks/{timebook_id}/closures",
        "closeSlots",
        "Close the slots starting in [from, to), cancel their appointments, tell the waitlist",
        "staff",
        schemas.ClosureOut,
        body=schemas.ClosureIn,
        errors=(*WITH_BODY, 404),
        description="Posting the same closure again changes and sends nothing new. `complete: false`: the rest "
        "is finished in the background within a minute or two.",
    ),
    Operation(
        "GET",
        "/admin/timebooks/{timebook_id}/audit",
        "auditLog",
        "Who changed what in a timebook, newest first",
        "staff",
        Items(schemas.AuditRecordOut, paged=True),
        params=(LIMIT, CURSOR),
        errors=(400, 404),
    ),
    # local stage only
    Operation(
        "POST",
        "/dev/token",
        "devToken",
        "Issue a token for these claims (local stage only)",
        "local",
        schemas.TokenOut,
        body=schemas.DevTokenIn,
        errors=WITH_BODY,
    ),
    Operation(
        "GET",
        "/dev/helsenorge/appointments",
        "devHelsenorgeAppointments",
        "What the Helsenorge stand-in received: the newest version of each appointment (local stage only)",
        "local",
        "json",
    ),
)

# ---- building --------------------------------------------------------------------------------


def _models(operations: tuple[Operation, ...]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(schemas.ErrorOut, "serialization")]
    for op in operations:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        answer = op.answer.model if isinstance(op.answer, Items) else op.answer
        if isinstance(answer, type):
            wanted.append((answer, "serialization"))
    return list(dict.fromkeys(wanted))


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _success(op: Operation, refs: dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]) -> dict[str, Any]:
    if op.answer == "empty":
        return {"description": "Done; no body."}
    if op.answer == "ics":
        return {
            "description": "The appointment as an iCalendar file.",
            "content": {"text/calendar": {"schema": {"type": "string"}}},
        }
    if op.answer == "openapi":
        return {"description": "The OpenAPI 3.1 document.", "content": _json({"type": "object"})}
    if op.answer == "fhir":
        return {
            "description": "An HL7 FHIR R4 resource (docs/standards.md).",
            "content": {"application/fhir+json": {"schema": {"type": "object", "required": ["resourceType"]}}},
        }
    if op.answer == "redirect":
        location = {"description": "Where the static copy is.", "schema": {"type": "string", "format": "uri"}}
        return {"description": "Found: the published static copy.", "headers": {"Location": location}}
    if op.answer == "json":
        return {"description": "OK.", "content": _json({"type": "object"})}
    if isinstance(op.answer, Items):
        item = refs[(op.answer.model, "serialization")]
        schema: dict[str, Any] = {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": item}},
        }
        if op.answer.paged:
            schema["required"].append("next_cursor")
            schema["properties"]["next_cursor"] = {"type": ["string", "null"], "description": "null on the last page"}
        return {"description": "The items.", "content": _json(schema)}
    assert isinstance(op.answer, type)
    return {"description": "OK.", "content": _json(refs[(op.answer, "serialization")])}


def _operation(op: Operation, refs: dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "description": "An opaque id.", "schema": {"type": "string"}}
        for name in op.path_params
    ] + [p.as_openapi() for p in op.params]
    success = _success(op, refs)
    responses: dict[str, Any] = {str(op.status): success}
    for status, text in op.also.items():
        responses[str(status)] = {**success, "description": text}
    errors = set(op.errors) | set(ALWAYS) | (set(SIGNED_IN) if op.signed_in else set())
    if op.path_params:
        errors.add(404)
    for status in sorted(errors):
        responses[str(status)] = {"$ref": f"#/components/responses/{RESPONSE_NAMES[status]}"}
    result: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": dict(sorted(responses.items())),
    }
    if op.description:
        result["description"] = op.description
    if not parameters:
        del result["parameters"]
    if op.body is not None:
        result["requestBody"] = {"required": True, "content": _json(refs[(op.body, "validation")])}
    result["security"] = [{"bearerAuth": []}] if op.signed_in else []
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


def operations(dev_tokens: bool) -> tuple[Operation, ...]:
    return tuple(op for op in OPERATIONS if dev_tokens or op.tag != "local")


def build(dev_tokens: bool) -> dict[str, Any]:
    """The document; `POST /dev/token` only where the stage serves it (DEV_TOKENS=enabled)."""
    chosen = operations(dev_tokens)
    refs, definitions = models_json_schema(_models(chosen), by_alias=True, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in chosen:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
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


_document: dict[str, Any] | None = None


def document() -> dict[str, Any]:
    """The document for this process's stage, built once (a Lambda keeps it across invocations)."""
    global _document
    if _document is None:
        _document = build(settings.get().dev_tokens)
    return _document
