"""One declaration per route (chalicelib/http/routes.py): what app.py declares is what Chalice
serves and what the document describes, and each parameter is read by the definition it is
documented with."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from chalice import AuthResponse, Response
from chalice.app import AuthRequest
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from chalicelib.domain import paging
from chalicelib.errors import InvalidInput
from chalicelib.http import openapi, schemas
from chalicelib.http.application import TimebokApp
from chalicelib.http.parameters import CURSOR, IDEMPOTENCY_KEY, LIMIT, LOCATION, PAGE, Param
from chalicelib.http.requests import page_of
from chalicelib.http.routes import Items, Routes

ROOT = Path(__file__).resolve().parents[2]


def _fresh() -> tuple[TimebokApp, Routes]:
    app = TimebokApp(app_name="sample", configure_logs=False)

    @app.authorizer()
    def sample_token(auth_request: AuthRequest) -> AuthResponse:
        return AuthResponse(routes=["*"], principal_id="nobody")

    return app, Routes(app, authorizer=sample_token)


def test_a_route_declared_once_is_served_and_documented() -> None:
    app, api = _fresh()

    @api.route("POST", "/samples/{sample_id}/reasons", "staff", ok="AppointmentOut", errors=(409,))
    def give_reason(sample_id: str, body: schemas.ReasonIn) -> Response:
        """Give a reason

        Only a sample: it shows that one declaration is enough.
        """
        return Response(body={"id": sample_id, "reason": body.reason}, status_code=200)

    @api.route("GET", "/samples", "public", ok=Items("HealthContactOut"), params=(LOCATION, *PAGE), errors=(400,))
    def list_samples() -> Response:
        """Samples"""
        return Response(body={"items": [], "next_cursor": None}, status_code=200)

    served = {(method, path) for path, entries in app.routes.items() for method in entries}
    assert served == {("POST", "/samples/{sample_id}/reasons"), ("GET", "/samples")}
    assert app.routes["/samples/{sample_id}/reasons"]["POST"].authorizer is not None  # staff: a token
    assert app.routes["/samples"]["GET"].authorizer is None  # public

    doc = openapi.build(api.declared, dev_tokens=False)
    validate(doc, cls=OpenAPIV31SpecValidator)
    post = doc["paths"]["/samples/{sample_id}/reasons"]["post"]
    assert post["operationId"] == "giveReason"
    assert (post["summary"], post["description"]) == (
        "Give a reason",
        "Only a sample: it shows that one declaration is enough.",
    )
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReasonIn"}
    # A body adds 400 and 415, a token 401 and 403, a path id 404; every route 429 and 503.
    assert set(post["responses"]) == {"200", "400", "401", "403", "404", "409", "415", "429", "503"}
    assert post["security"] == [{"bearerAuth": []}]
    listing = doc["paths"]["/samples"]["get"]
    assert [p["name"] for p in listing["parameters"]] == ["location", "limit", "cursor"]
    assert "next_cursor" in listing["responses"]["200"]["content"]["application/json"]["schema"]["required"]
    assert listing["security"] == []


def test_the_body_a_view_takes_is_parsed_by_its_annotation() -> None:
    from chalicelib.local.gateway import Client

    app, api = _fresh()

    @api.route("POST", "/samples/{sample_id}", "public", ok="json")
    def take_reason(sample_id: str, body: schemas.ReasonIn) -> Response:
        """Take a reason"""
        return Response(body={"id": sample_id, "reason": body.reason}, status_code=200)

    client = Client(app)
    good = client.post("/samples/s1", {"reason": "Stengt"})
    assert good.status == 200 and good.json == {"id": "s1", "reason": "Stengt"}
    bad = client.post("/samples/s1", {"reason": "Stengt", "extra": 1})
    assert bad.status == 400 and bad.json["error"]["fields"][0]["field"] == "extra"


def _request(query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Any:
    from chalice.app import Request

    event = {
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "headers": headers or {},
        "pathParameters": {},
        "requestContext": {"httpMethod": "GET", "resourcePath": "/"},
        "body": None,
        "isBase64Encoded": False,
        "stageVariables": {},
    }
    return Request(event)


@given(st.one_of(st.text(max_size=5), st.integers(-5, 300).map(str), st.integers(0, 300).map(lambda n: f"{n:03d}")))
def test_limit_is_accepted_exactly_as_documented(raw: str) -> None:
    documented = LIMIT.matches(raw) and 1 <= int(raw) <= paging.MAX_LIMIT
    try:
        page = page_of(_request({"limit": raw}))
    except InvalidInput as refused:
        assert raw and not documented  # an empty value is no value: the default
        assert refused.status == 400
    else:
        assert page.limit == (int(raw) if raw else paging.DEFAULT_LIMIT)


def test_a_cursor_longer_than_documented_is_refused() -> None:
    assert not CURSOR.matches("x" * (CURSOR.schema["maxLength"] + 1))
    with pytest.raises(InvalidInput):
        page_of(_request({"cursor": "x" * (CURSOR.schema["maxLength"] + 1)}))


def _reads(view: ast.FunctionDef, names: dict[str, tuple[str, ...]]) -> set[str]:
    """The parameters (by their names in parameters.py) that a view of app.py reads."""
    found: set[str] = set()
    for node in ast.walk(view):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "query_param":
                found.add(ast.unparse(node.args[1]))
            found.update(names.get(node.func.id, ()))
    return found


def test_every_view_reads_the_parameters_its_route_declares_and_no_others() -> None:
    """A parameter read but not declared would be missing from the document (and the reverse, documented unread)."""
    from app import api
    from chalicelib.http import parameters

    by_value = {param: name for name, param in vars(parameters).items() if isinstance(param, Param)}
    helpers = {
        "page_of": ("LIMIT", "CURSOR"),
        "idempotency_key": ("IDEMPOTENCY_KEY",),
        "language_of": ("ACCEPT_LANGUAGE",),
        "queue_ticket": ("QUEUE_TICKET",),  # issue 20
    }
    views = {
        node.name: node
        for node in ast.walk(ast.parse((ROOT / "app.py").read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    assert api.declared, "app.py declares no routes"
    for route in api.declared:
        declared = {by_value[param] for param in route.params}
        assert _reads(views[route.view.__name__], helpers) == declared, (route.method, route.path)


def test_parameters_are_defined_once() -> None:
    from chalicelib.http import parameters

    names = [(p.location, p.name, p.required) for p in vars(parameters).values() if isinstance(p, Param)]
    assert len(names) == len(set(names)), "two definitions of the same parameter"
    assert IDEMPOTENCY_KEY.matches("k-1") and not IDEMPOTENCY_KEY.matches("two words")
    # parameters.py does not import domain/paging.py (a cold start's cost): its text must agree.
    assert f"1-{paging.MAX_LIMIT} (default {paging.DEFAULT_LIMIT})" in LIMIT.description


def test_the_declaration_imports_neither_the_document_nor_the_models() -> None:
    """No import circle with openapi.py, and a cold start builds no model to declare its routes."""
    for module in ("routes", "parameters"):
        tree = ast.parse((ROOT / "chalicelib" / "http" / f"{module}.py").read_text(encoding="utf-8"))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):  # `from chalicelib.http import openapi` names it in the alias
                imported.update({node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)})
        assert not {n for n in imported if n.startswith(("chalicelib.http.openapi", "chalicelib.http.schemas"))}, module
        assert "pydantic" not in {n.split(".")[0] for n in imported}, module
