"""CORS: the stage's origins (and the portal's) may read the API from a browser; no other may.

API.md: preflight and answers carry `Access-Control-Allow-Origin` only for the configured
origins; any other origin gets no allow header. Errors too, the local gateway's own 401/404
included (API Gateway's are in infra/stack.yaml, checked in tests/infra/test_portal.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.http import cors
from tests.conftest import Citizen

PORTAL = "http://127.0.0.1:8001"
ALSO = "http://localhost:8001"
CLOUDFRONT = "https://d111111abcdef8.cloudfront.net"
OTHERS = ("http://127.0.0.1:8002", "https://evil.example", "null", "http://127.0.0.1:8001.evil.example", "*")


@pytest.fixture(autouse=True)
def origins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ALLOWED_ORIGINS", f"{PORTAL} {ALSO}, not-an-origin")
    monkeypatch.setenv("PORTAL_ORIGIN", CLOUDFRONT)
    yield


def cors_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def preflight(client: Any, path: str, origin: str, method: str = "POST") -> Any:
    headers = {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": "authorization,content-type,idempotency-key",
    }
    return client.request("OPTIONS", path, headers=headers)


def test_the_allowed_origins_are_the_stages_and_the_portals() -> None:
    assert cors.allowed_origins() == {PORTAL, ALSO, CLOUDFRONT}


PATHS = ["/holds", "/appointments/ap123/cancel", "/timebooks/tb1/slots", "/admin/appointments/ap1/reject"]


@pytest.mark.parametrize("origin", [PORTAL, ALSO, CLOUDFRONT])
@pytest.mark.parametrize("path", PATHS)
def test_preflight_of_an_allowed_origin_is_answered_without_a_token(client: Any, origin: str, path: str) -> None:
    response = preflight(client, path, origin)
    assert response.status == 204, response
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == origin
    assert {"Authorization", "Content-Type", "Idempotency-Key"} <= set(
        headers["access-control-allow-headers"].split(", ")
    )
    assert {"GET", "POST", "DELETE", "PATCH"} <= set(headers["access-control-allow-methods"].split(", "))
    assert int(headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in headers  # bearer tokens, never cookies
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize("origin", OTHERS)
def test_another_origin_gets_no_allow_header_on_preflight_or_answer(client: Any, origin: str) -> None:
    assert cors_headers(preflight(client, "/holds", origin)) == {}
    answer = client.get("/health-contacts", headers={"origin": origin})
    assert answer.status == 200
    assert cors_headers(answer) == {}
    assert answer.headers["vary"] == "Origin"  # a cache keeps answers per origin
    assert cors_headers(client.get("/inbox", headers={"origin": origin})) == {}


def test_no_origin_no_cors_headers(client: Any) -> None:
    assert cors_headers(client.get("/health-contacts")) == {}


def test_answers_and_errors_carry_the_allow_header(client: Any, citizen: Citizen) -> None:
    sent = {"origin": PORTAL}
    answers = {
        "public read": client.get("/health-contacts", headers=sent),
        "gateway 401": client.get("/inbox", headers=sent),
        "gateway 404": client.get("/no/such/route", headers=sent),
        "route 404": client.get("/timebooks/nope", headers=sent),
        "route 400": client.post("/holds", {"slot_id": ""}, token=citizen.token, headers=sent),
        "signed in": client.get("/appointments", token=citizen.token, headers=sent),
    }
    for name, answer in answers.items():
        headers = cors_headers(answer)
        assert headers.get("access-control-allow-origin") == PORTAL, (name, answer)
        assert "Retry-After" in headers["access-control-expose-headers"], name
    assert answers["gateway 401"].status == 401
    assert answers["route 400"].status == 400


def test_every_route_has_a_preflight() -> None:
    from app import app

    missing = [path for path, methods in app.routes.items() if "OPTIONS" not in methods]
    assert missing == []


def test_the_local_runner_allows_the_portals_own_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stage names its origins by $PORTAL_PORT; the runner fills in the port it serves on."""
    from chalicelib.local import runner

    template = runner.stage_environment()["ALLOWED_ORIGINS"]
    monkeypatch.setenv("ALLOWED_ORIGINS", template)
    stop = runner._start_portal(0, "http://127.0.0.1:1")
    try:
        port = int(os.environ["PORTAL_URL"].rsplit(":", 1)[1])
        assert cors.allowed_origins() - {CLOUDFRONT} == {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
    finally:
        stop()
