"""The bench's HTTP client: a kept-alive connection per client thread, as a browser keeps one (a
new session and connection per call cost the bench's threads, in the stack's own process, about
as much CPU as the calls they measured: issue 20's joins); a failed call is status 0, never an
exception, and the thread's next call opens a new connection."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripts.bench.surge import Http
from tests.live import free_port


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with _Counting.lock:
            _Counting.connections += 1

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length) or b"null")
        body = json.dumps({"got": sent, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_each_thread_keeps_one_connection_and_a_failed_call_is_status_0() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        http = Http(f"http://127.0.0.1:{server.server_port}")

        def three_calls() -> list[Any]:
            return [http.post("/x", {"n": n}, "t") for n in range(3)]

        answers = three_calls()
        other = threading.Thread(target=three_calls)
        other.start()
        other.join()
        assert [(a.status, a.body) for a in answers] == [(201, {"got": {"n": n}, "auth": "Bearer t"}) for n in range(3)]
        assert _Counting.connections == 2  # one per thread, six calls
    finally:
        server.shutdown()
        server.server_close()
    gone = Http(f"http://127.0.0.1:{free_port()}")  # nobody listens there
    failed = gone.post("/x", {}, "t")
    assert failed.status == 0 and failed.body == {"client_error": "ConnectionError"}
