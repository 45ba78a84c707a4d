"""CORS: the portal is served from another origin, and only the stage's origins may read answers.

The allowed origins are the stage's `ALLOWED_ORIGINS` (.chalice/config.json; locally the portal's
own origins, filled in by the local runner) plus `PORTAL_ORIGIN`, the portal's CloudFront origin
that the deployed stack sets. An allowed origin gets `Access-Control-Allow-Origin: <it>` on the
preflight and on every answer, errors included; any other origin gets no allow header at all
(never `*`: the answers carry health data). Tokens travel in the Authorization header, not in
cookies, so credentials are never allowed.

The same rule answers in three places: the routes (an http middleware), the preflight (one
OPTIONS view per path), and the local gateway's own 401/403/404 (chalicelib/local/gateway.py).
API Gateway's own error answers in AWS carry the portal origin (infra/stack.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Chalice, Request, Response

from chalicelib import settings

ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
# Accept-Language (the portal's language) is safelisted for simple values; listed for any other.
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Accept-Language, X-Queue-Ticket"
# The portal reads Retry-After (429/503), the .ics file name and Date (to count a hold down on a
# wrong clock); none is CORS-safelisted.
EXPOSE_HEADERS = "Retry-After, Content-Disposition, Date"
# Chromium keeps a preflight at most 2 h: one preflight per path and tab, not one per call.
MAX_AGE_SECONDS = 7200

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


def allowed_origins() -> frozenset[str]:
    """ALLOWED_ORIGINS (spaces or commas between) and PORTAL_ORIGIN; malformed entries are ignored."""
    current = settings.get()
    raw = f"{current.allowed_origins} {current.portal_origin}"
    return frozenset(o.rstrip("/") for o in re.split(r"[\s,]+", raw) if _ORIGIN.match(o.rstrip("/")))


def _origin_of(headers: Mapping[str, Any] | None) -> str | None:
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "origin":
            return str(value)
    return None


def response_headers(request_headers: Mapping[str, Any] | None) -> dict[str, str]:
    """The headers an answer gets for the request's Origin: the allow headers, or only Vary."""
    headers = {"Vary": "Origin"}  # a cache must not hand one origin's answer to another
    origin = _origin_of(request_headers)
    if origin is not None and origin in allowed_origins():
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return headers


def preflight_headers(request_headers: Mapping[str, Any] | None) -> dict[str, str]:
    headers = response_headers(request_headers)
    if "Access-Control-Allow-Origin" in headers:
        headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        headers["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
    return headers


def add_headers(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """http middleware: every answer of a route, errors included, gets the headers for its origin."""
    response = get_response(event)
    for name, value in response_headers(event.headers).items():
        if name == "Vary" and response.headers.get("Vary") not in (None, "Origin"):
            value = f"{response.headers['Vary']}, Origin"
        response.headers[name] = value
    return response


def _preflight_view(app: Chalice) -> Callable[..., Response]:
    def preflight(**_path_params: str) -> Response:
        request = app.current_request
        return Response(body="", status_code=204, headers=preflight_headers(request.headers if request else None))

    return preflight


def install(app: Chalice) -> None:
    """The middleware, and an unauthenticated OPTIONS on every path registered so far (so call it
    after the last route): browsers send the preflight without the Authorization header."""
    app.register_middleware(add_headers, "http")
    view = _preflight_view(app)
    for number, path in enumerate(sorted(app.routes)):
        if "OPTIONS" not in app.routes[path]:
            app.route(path, methods=["OPTIONS"], name=f"cors_preflight_{number}")(view)
