"""API Gateway, locally: Chalice's local gateway with our gateway responses.

In AWS, API Gateway answers a bad token (401), a refused one (403) and an unknown route with
the JSON error of API.md through the GatewayResponses in infra/. Chalice's local gateway
answers them with its own bodies, and lets an authorizer's "Unauthorized" escape as an
exception; this wrapper gives the same answers as the deployed API, for `make run` and tests.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    NotAuthorizedError,
    ThreadedHTTPServer,
)

from chalicelib import logs
from chalicelib.http import cors
from chalicelib.http.errors import body as error_body


def _response(status: int, code: str, message: str, request_headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        # API Gateway's own answers carry CORS headers too (infra/stack.yaml), or a browser could
        # not read a 401 and would show a network error instead of "sign in again".
        "headers": {"Content-Type": "application/json", **cors.response_headers(request_headers)},
        "multiValueHeaders": {},
        "body": json.dumps(error_body(code, message)),
    }


class TimebokGateway(LocalGateway):
    def handle_request(self, method: str, path: str, headers: dict[str, Any], body: bytes | None) -> dict[str, Any]:
        """As API Gateway: a request id for the request's log lines, and one access line for it."""
        started, status = time.perf_counter(), 500
        with logs.request_id(uuid.uuid4().hex):
            try:
                result = self._answer(method, path, headers, body)
                status = int(result.get("statusCode", 500))
                return result
            finally:
                logs.access(method, path, status, started)

    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        event = super()._generate_lambda_event(method, path, headers, body)
        event["requestContext"]["requestId"] = logs.current_request_id()  # as API Gateway's requestId
        return event

    def _answer(self, method: str, path: str, headers: dict[str, Any], body: bytes | None) -> dict[str, Any]:
        try:
            return super().handle_request(method, path, headers, body)
        except NotAuthorizedError:
            return _response(401, "unauthorized", "A valid token is required.", headers)
        except ForbiddenError as error:
            # No route matched: API Gateway's "Missing Authentication Token" (or, with a bearer
            # header, its SigV4 complaint) — our MISSING_AUTHENTICATION_TOKEN response says 404.
            if any(text in (error.body or b"") for text in (b"Missing Authentication Token", b"requires 'Credential'")):
                return _response(404, "not_found", "No such resource.", headers)
            return _response(403, "forbidden", "Not allowed.", headers)
        except LocalGatewayException:
            return _response(500, "internal_error", "Something went wrong.", headers)
        except Exception as error:
            if str(error) == "Unauthorized":  # the authorizer refused the token
                return _response(401, "unauthorized", "A valid token is required.", headers)
            raise


class TimebokRequestHandler(ChaliceRequestHandler):
    # The headers and the body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers, some 40 ms per answer on a reused (keep-alive) connection.
    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.local_gateway = TimebokGateway(app_object, config)
        # Skip ChaliceRequestHandler.__init__ (it would build a plain LocalGateway).
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines carry query strings; keep the console for what matters


class _SurgeServer(ThreadedHTTPServer):
    request_queue_size = 256  # socketserver's 5 resets connections when a crowd arrives at once


def local_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    return LocalDevServer(app, config, host, port, handler_cls=TimebokRequestHandler, server_cls=_SurgeServer)


class Client:
    """An in-process client through the local gateway (authorizer included), for tests."""

    def __init__(self, app: Chalice, config: Config | None = None) -> None:
        self._gateway = TimebokGateway(app, config or Config.create(lambda_timeout=60, lambda_memory_size=512))

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Response:
        sent = {"content-type": "application/json", **(headers or {})}
        if token:
            sent["authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(json_body).encode() if json_body is not None else b"")
        result = self._gateway.handle_request(method.upper(), path, sent, data)
        return Response(result)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", path, json_body=body if body is not None else {}, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)


class Response:
    def __init__(self, result: dict[str, Any]) -> None:
        self.status: int = result["statusCode"]
        self.headers: dict[str, str] = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body")
        self.text: str = raw.decode() if isinstance(raw, bytes) else (raw or "")

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.text[:300]}>"
