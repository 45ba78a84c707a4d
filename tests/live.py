"""The real `make run` stack in a subprocess on a free port, for race, flow and fuzz tests."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
# How long a test waits for the live stack to do something (relay a message, publish, step the
# room) before it fails: an upper bound, never a pause. A loaded 2-core machine (make
# test-stress) takes tens of seconds where a quiet one takes one, so it is generous.
WAIT_SECONDS = float(os.environ.get("LIVE_WAIT_SECONDS", "90"))


def _pdeathsig() -> Callable[[], None] | None:
    """Linux: a child started with this gets SIGTERM when the test process that started it dies,
    even by SIGKILL (an interrupted xdist run kills its workers without their `finally`, and their
    stacks were left running). Looked up here: the function run between fork and exec only calls."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def stop_with_parent() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return stop_with_parent


stop_with_parent = _pdeathsig()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_stack(*, demo: bool, start_seconds: float = 90, portal_port: int | None = None) -> Iterator[str]:
    """Yields the base URL; stops the whole process tree afterwards. The portal's pages are served
    on `portal_port` (pick one with free_port()), else on another free port nobody looks at.

    The stack's output goes to a file, not a pipe nobody reads (a full pipe would block it). A
    port taken by another test's stack between free_port() and the bind (pytest-xdist runs files
    side by side) makes the runner say "in use": it is started again on other ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for attempt in range(3):
        port = free_port()
        portal = portal_port or free_port()  # never PORT+1: another worktree's stack may have it
        oidc = free_port()  # the OpenID provider: never PORT+3 either
        command = [sys.executable, "-m", "chalicelib.local.runner", "--port", str(port)]
        command += ["--portal-port", str(portal), "--oidc-port", str(oidc)]
        if not demo:
            command.append("--no-demo")
        with tempfile.TemporaryFile(mode="w+") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=stop_with_parent,  # between fork and exec: one foreign call
            )
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
                        said = output.read()[-5000:]
                        if process.poll() is not None and "in use" in said and attempt < 2:
                            break
                        raise RuntimeError(f"local stack did not start:\n{said}")
                    time.sleep(0.2)
                if process.poll() is None:  # up (else: a port was taken, and it goes round again)
                    yield url
                    return
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
