"""moto's HTTP server, processing one request at a time: the atomic half of the local stand-in.

moto's in-memory backends are not thread-safe (TransactWriteItems deep-copies the whole table
for rollback while other threads write to it: "dictionary changed size during iteration", lost
writes, non-atomic transactions). Serialising requests makes every API call atomic, which is
what the booking logic relies on.
"""

from __future__ import annotations

import io
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

logger = logging.getLogger("timebok.local")

__all__ = ["MOTO_LOCK", "AtomicMotoServer", "Conflicts", "SerializedWSGIApp", "Shedding"]

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]


# moto keeps its backends in module-level globals, so two servers in one process share
# state; one process-wide lock keeps them from racing each other too.
MOTO_LOCK = threading.Lock()


class SerializedWSGIApp:
    """WSGI wrapper that lets exactly one request at a time run inside `app`.

    The lock covers both the call and the full consumption of the response iterable,
    because Flask/moto may still run code (and touch backend state) while the body is
    produced. The request body is read from the socket *before* taking the lock so a slow
    client cannot stall everybody else.

    With `shedding`, DynamoDB requests it cannot serve in time are refused the way DynamoDB
    refuses them under load, with a ThrottlingException (HTTP 400), instead of letting them
    wait until the client's read timeout: once `shedding.max_waiting` requests wait for the
    lock, a new one is refused at once, and one that waited `shedding.max_wait_seconds` is
    refused when its turn comes. Clients back off and retry (botocore does), and the app
    answers 429 with Retry-After when they give up: never a timeout that becomes a 503.
    """

    def __init__(self, app: WSGIApp, lock: threading.Lock | None = None, shedding: Shedding | None = None) -> None:
        self._app = app
        self._lock = lock if lock is not None else threading.Lock()
        self._shedding = shedding
        self._count_lock = threading.Lock()
        self._waiting = 0
        self.shed = 0  # DynamoDB requests refused so far (the bench reports it)

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> list[bytes]:
        _buffer_request_body(environ)
        sheddable = self._shedding is not None and _is_dynamodb(environ)
        if sheddable:
            assert self._shedding is not None
            with self._count_lock:
                if self._waiting >= self._shedding.max_waiting:
                    self.shed += 1
                    return _throttled(start_response)
                self._waiting += 1
        queued = time.monotonic()
        try:
            with self._lock:
                if sheddable:
                    with self._count_lock:
                        self._waiting -= 1
                    assert self._shedding is not None
                    if time.monotonic() - queued > self._shedding.max_wait_seconds:
                        with self._count_lock:
                            self.shed += 1
                        return _throttled(start_response)
                    sheddable = False
                result = self._app(environ, start_response)
                try:
                    body = b"".join(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        finally:
            if sheddable:  # left without reaching the lock (an exception)
                with self._count_lock:
                    self._waiting -= 1
        return [body]


@dataclass(frozen=True)
class Shedding:
    """How much the one-at-a-time stand-in lets queue up. The defaults keep a request's wait
    well under the app's DynamoDB read timeout (5 s, storage/models.py) even with botocore's
    retries: the stand-in serves some 30-60 requests/s, so 48 waiting is about a second."""

    max_waiting: int = 48
    max_wait_seconds: float = 2.0


def _is_dynamodb(environ: WSGIEnviron) -> bool:
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_")


def _throttled(start_response: StartResponse) -> list[bytes]:
    """DynamoDB's own answer to too much load (botocore retries it with backoff)."""
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            "message": "The local stand-in is at capacity (request shed).",
        }
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _buffer_request_body(environ: WSGIEnviron) -> None:
    """Replace wsgi.input by an in-memory copy, so reading it needs no network I/O."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    if environ.get("wsgi.input_terminated"):  # chunked: the stream ends by itself
        data = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return
        data = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))


# ---- transaction conflicts, as real DynamoDB answers them --------------------------------------

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})
_CONFLICT_TYPE = "com.amazonaws.dynamodb.v20120810#TransactionConflictException"


class Conflicts:
    """Refuse a share of DynamoDB writes the way DynamoDB does when another transaction is
    writing the same item: a plain write gets `TransactionConflictException`, a transaction is
    cancelled with a `TransactionConflict` reason on one of its items (the others "None").
    Nothing is written, as in DynamoDB. moto never raises these, so without this no local run
    or test would see them. `rate` 0..1; `seed` makes the sequence repeatable (tests).

    Works for the local server and for moto in-process (mock_aws) alike: `install()` wraps
    moto's DynamoDB request handler, which both go through.
    """

    def __init__(self, rate: float, seed: int | None = None) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"a conflict rate is between 0 and 1, not {rate}")
        self.rate = rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = 0  # writes refused so far

    @classmethod
    def from_settings(cls) -> Conflicts | None:
        """LOCAL_CONFLICT_RATE (e.g. 0.3; unset or 0: none) and LOCAL_CONFLICT_SEED."""
        from chalicelib import settings

        rate = float(settings.get().local_conflict_rate or 0)
        seed = settings.get().local_conflict_seed
        return cls(rate, int(seed) if seed else None) if rate > 0 else None

    def refuse(self, operation: str, body: dict[str, Any]) -> Exception | None:
        """The error to answer instead of doing `operation`, or None to do it."""
        if operation not in WRITES:
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            self.injected += 1
            items = len(body.get("TransactItems") or [])
            which = self._random.randrange(items) if items else 0
        from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException

        if operation != "TransactWriteItems":
            return DynamodbException(_CONFLICT_TYPE, "Transaction is ongoing for the item")
        reasons = [
            ("TransactionConflict", "Transaction is ongoing for the item", None) if i == which else (None, None, None)
            for i in range(items)
        ]
        return TransactionCanceledException(reasons)

    def install(self) -> Callable[[], None]:
        """Start refusing (process-wide: moto's handler is shared); returns the undo."""
        global _active
        _patch_handler()
        _active = self

        def undo() -> None:
            global _active
            if _active is self:
                _active = None
                logger.info("conflicts: %d writes refused", self.injected)

        return undo


_active: Conflicts | None = None
_patched = False


def _patch_handler() -> None:
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    for operation, method in (
        ("PutItem", "put_item"),
        ("UpdateItem", "update_item"),
        ("DeleteItem", "delete_item"),
        ("TransactWriteItems", "transact_write_items"),
    ):
        setattr(DynamoHandler, method, _refusing(operation, getattr(DynamoHandler, method)))
    _patched = True


def _refusing(operation: str, handle: Callable[..., Any]) -> Callable[..., Any]:
    def refusing(self: Any) -> Any:
        conflicts = _active
        if conflicts is not None and (error := conflicts.refuse(operation, self.body)) is not None:
            raise error
        return handle(self)

    return refusing


def _connectable(host: str) -> str:
    """The address a client uses to reach a server bound to `host` (wildcards -> loopback)."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without the per-request access log line (errors still log)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Drop access logs: hundreds of lines per test run drown the useful output."""


class AtomicMotoServer:
    """moto server in a daemon thread that processes one request at a time.

    A drop-in for `moto.server.ThreadedMotoServer` when clients run concurrently
    (e.g. `chalice local` plus a worker, or a race test).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False, shedding: Shedding | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._verbose = verbose
        self._shedding = shedding
        self.app: SerializedWSGIApp | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """URL for boto3's `endpoint_url`, with the real port when started on port 0."""
        if self._server is None:
            raise RuntimeError("AtomicMotoServer is not started")
        host = _connectable(self._host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._server.server_port}"

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port=0)."""
        if self._server is None:
            raise RuntimeError("AtomicMotoServer is not started")
        return self._server.server_port

    def start(self) -> None:
        """Bind, serve in a daemon thread, and return once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("AtomicMotoServer is already started")
        moto_app = DomainDispatcherApplication(create_backend_app)
        app = SerializedWSGIApp(moto_app, MOTO_LOCK, self._shedding)
        self.app = app
        handler = MotoRequestHandler if self._verbose else _QuietRequestHandler
        # Bind in the caller's thread so that "address in use" surfaces here.
        server = make_server(self._host, self._port, app, threaded=True, request_handler=handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"moto:{server.server_port}", daemon=True)
        self._thread.start()
        self._wait_until_accepting()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> AtomicMotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_accepting(self, timeout: float = 10.0) -> None:
        """Connect until the server answers, so callers never see a refused connection."""
        assert self._server is not None
        host = _connectable(self._host)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((host, self._server.server_port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
