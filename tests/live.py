"""The real `make run` stack in a subprocess on a free port, for race, flow and fuzz tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
# How long a test waits for the live stack to do something (relay a message, publish, step the
# room) before it fails: an upper bound, never a pause. A loaded 2-core machine (make
# test-stress) takes tens of seconds where a quiet one takes one, so it is generous.
WAIT_SECONDS = float(os.environ.get("LIVE_WAIT_SECONDS", "90"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_stack(*, demo: bool, start_seconds: float = 90, portal_port: int | None = None) -> Iterator[str]:
    """Yields the base URL; stops the whole process tree afterwards. The portal's pages are served
    on `portal_port` (pick one with free_port()), else on another free port nobody looks at.

    The stack's output goes to a file, not a pipe nobody reads (a full pipe would block it)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    portal = portal_port or free_port()  # never PORT+1: another worktree's stack may have it
    oidc = free_port()  # the OpenID provider: never PORT+3 either
    command = [
        sys.executable,
        "-m",
        "chalicelib.local.runner",
        "--port",
        str(port),
        "--portal-port",
        str(portal),
        "--oidc-port",
        str(oidc),
    ]
    if not demo:
        command.append("--no-demo")
    with tempfile.TemporaryFile(mode="w+") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_seconds
        try:
            while True:
                try:
                    if requests.get(f"{url}/health-contacts", timeout=10).status_code == 200:
                        break
                except (requests.ConnectionError, requests.Timeout):
                    pass  # not up yet, or slow on a busy machine (the first answer seeds the demo)
                if process.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    raise RuntimeError(f"local stack did not start:\n{output.read()[-5000:]}")
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
