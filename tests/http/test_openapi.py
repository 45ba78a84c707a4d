"""The served OpenAPI document: valid 3.1, in step with app.py's routes and with API.md."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from chalicelib.http import openapi

ROOT = Path(__file__).resolve().parents[2]
# CI checks the clone out with ../shared beside it; a lone clone has no API.md to compare with.
API_MD = ROOT.parent / "shared" / "API.md"
METHODS = ("get", "post", "put", "patch", "delete")


def _shape(path: str) -> str:
    """A path with its parameter names blanked: API.md says {id} where app.py says {timebook_id}."""
    return re.sub(r"{[^}]*}", "{}", path)


def _operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


@pytest.fixture
def served(client: Any) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status == 200, response
    assert response.headers["content-type"] == "application/json"
    return response.json


def test_served_document_is_valid_openapi_31(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.1")
    validate(served, cls=OpenAPIV31SpecValidator)


def test_document_without_dev_tokens_is_valid_and_lacks_dev_token() -> None:
    from app import api

    doc = openapi.build(api.declared, dev_tokens=False)
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert "/dev/token" not in doc["paths"]
    assert "local" not in {t["name"] for t in doc["tags"]}


def test_every_route_of_the_app_is_documented_and_nothing_else(served: dict[str, Any]) -> None:
    from app import app

    # OPTIONS on every path is the CORS preflight (chalicelib/http/cors.py), not an operation.
    registered = {(method, path) for path, entries in app.routes.items() for method in entries if method != "OPTIONS"}
    documented = _operations(served)
    assert registered - documented == set(), "routes of app.py missing from the document"
    assert documented - registered == set(), "documented operations app.py does not serve"


def test_dev_token_is_documented_exactly_where_it_is_served(served: dict[str, Any]) -> None:
    assert ("/dev/token" in served["paths"]) == (os.environ.get("DEV_TOKENS") == "enabled")


def test_every_call_of_api_md_is_documented(served: dict[str, Any]) -> None:
    if not API_MD.exists():
        pytest.skip(f"no API.md at {API_MD} (the contract lives in ../shared beside the clone)")
    calls = set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", API_MD.read_text()))
    assert len(calls) >= 20, f"parsed too few calls from {API_MD}: {sorted(calls)}"
    documented = {(method, _shape(path)) for method, path in _operations(served)}
    missing = {(method, path) for method, path in calls if (method, _shape(path)) not in documented}
    assert missing == set(PENDING), "API.md calls not served, or PENDING lists a call that is served now"


# Calls API.md added ahead of the work («Added for surges, staff days, languages and data
# lifetime»), each with the open issue that builds it. Strict: a call served now must leave the list.
PENDING: dict[tuple[str, str], int] = {}


def test_every_operation_has_an_id_a_tag_and_errors_with_the_error_body(served: dict[str, Any]) -> None:
    ids = []
    for path, item in served["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            assert op["tags"][0] in ("public", "citizen", "staff", "local"), (method, path)
            signed_in = op["tags"][0] in ("citizen", "staff")
            assert (op["security"] == [{"bearerAuth": []}]) == signed_in, (method, path)
            statuses = set(op["responses"])
            assert {"429", "503"} <= statuses, (method, path)
            if signed_in:
                assert {"401", "403"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            if "requestBody" in op:
                assert "400" in statuses, (method, path)
    assert len(ids) == len(set(ids))
    responses = served["components"]["responses"]
    for name, response in responses.items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, name
    assert responses["Throttled"]["headers"]["Retry-After"]["required"] is True
    assert responses["Unavailable"]["headers"]["Retry-After"]["required"] is True


def test_the_contract_details(served: dict[str, Any]) -> None:
    paths = served["paths"]
    components = served["components"]["schemas"]
    assert served["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    # aliases as in API.md
    assert {"from", "to"} <= set(components["ScheduleIn"]["properties"])
    assert "for" in components["AppointmentOut"]["properties"]
    assert "for" in components["OverviewAppointmentOut"]["properties"]
    # lists are {"items": [...]}
    listing = paths["/health-contacts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing["properties"]["items"]["items"] == {"$ref": "#/components/schemas/HealthContactOut"}
    assert "204" in paths["/holds/{hold_id}"]["delete"]["responses"]
    ics = paths["/appointments/{appointment_id}/ics"]["get"]["responses"]["200"]["content"]
    assert ics == {"text/calendar": {"schema": {"type": "string"}}}
    # A booking and a place on the waitlist are made in the person's language (issue 22); a hold
    # while a waiting room is on needs the caller's admitted ticket (issue 20).
    for path, expected in (
        ("/holds", ["Idempotency-Key", "X-Queue-Ticket"]),
        ("/appointments", ["Idempotency-Key", "Accept-Language"]),
        ("/waitlist", ["Accept-Language"]),
    ):
        headers = [p["name"] for p in paths[path]["post"].get("parameters", []) if p["in"] == "header"]
        assert headers == expected, path
    month = next(p for p in paths["/timebooks/{timebook_id}/calendar"]["get"]["parameters"] if p["name"] == "month")
    assert month["required"] is True
    assert re.match(month["schema"]["pattern"], "2024-03") and not re.match(month["schema"]["pattern"], "2024-13")
    status = next(p for p in paths["/admin/appointments"]["get"]["parameters"] if p["name"] == "status")
    assert set(status["schema"]["enum"]) == {"requested", "booked", "rejected", "cancelled", "arrived", "noshow"}
    # A priority list comes as JSON or as a spreadsheet's CSV (issue 20): both bodies are documented.
    upload = paths["/admin/timebooks/{timebook_id}/waves/{wave}/people"]["post"]
    bodies = upload["requestBody"]["content"]
    assert bodies["application/json"]["schema"] == {"$ref": "#/components/schemas/WavePeopleIn"}
    assert bodies["text/csv"]["schema"]["type"] == "string" and {"400", "415"} <= set(upload["responses"])


def test_document_is_built_once() -> None:
    from app import api

    assert openapi.document(api) is openapi.document(api)
