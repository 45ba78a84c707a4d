"""The local API server (`make run`) as browsers and the bench reach it (issue 20).

Its answers go out in two writes (headers, then body); with Nagle's algorithm on, the body of an
answer on a reused connection waited for the client's delayed ACK, some 40 ms an answer. Checked
on the socket, not by the clock.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any

from chalice.app import Chalice
from chalice.config import Config

from chalicelib.local.gateway import local_server
from tests.live import WAIT_SECONDS


def test_answers_on_a_kept_alive_connection_are_sent_without_nagle() -> None:
    app = Chalice(app_name="probe")

    @app.route("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    served = local_server(app, Config.create(lambda_timeout=60, lambda_memory_size=512), "127.0.0.1", 0)
    server: Any = served.server
    nodelay: list[int] = []
    closed = threading.Event()
    finish = server.finish_request

    def finish_request(request: socket.socket, client_address: Any) -> None:
        finish(request, client_address)  # returns when the client closes the connection
        nodelay.append(request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        closed.set()

    server.finish_request = finish_request
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        for _ in range(3):  # one connection, kept alive
            connection.request("GET", "/ping")
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"pong":"yes"}')
            assert answer.getheader("Connection", "").lower() != "close"
        connection.close()
        assert closed.wait(WAIT_SECONDS)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
    assert len(nodelay) == 1 and nodelay[0] != 0
