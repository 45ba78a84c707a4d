"""`make run`'s process: a busy port fails at once with one line; SIGTERM stops it and frees the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.live import WAIT_SECONDS, free_port, stop_with_parent

ROOT = Path(__file__).resolve().parents[2]


def _runner(port: int, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [sys.executable, "-m", "chalicelib.local.runner", "--port", str(port), *extra]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=stop_with_parent,  # between fork and exec: one foreign call
    )


def test_a_busy_port_fails_at_once_with_one_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        process = _runner(port, "--no-demo")
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.strip().splitlines() == [stderr.strip()], stderr  # one line, no traceback
    assert f"port {port}" in stderr and "in use" in stderr
    # Before anything starts: a bare interpreter's start-up, not the stand-in's and the app's import.
    assert time.monotonic() - started < 10


def _started_runner() -> tuple[int, subprocess.Popen[str]]:
    """A runner up on free ports. Another test's stack (pytest-xdist runs files side by side) may
    take a port between free_port() and the runner's bind: then it says "in use" and is started
    again on other ports."""
    for _ in range(3):
        port = free_port()
        process = _runner(port, "--no-demo", "--portal-port", str(free_port()), "--oidc-port", str(free_port()))
        deadline = time.monotonic() + WAIT_SECONDS
        while process.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health-contacts", timeout=2).status_code == 200:
                    return port, process
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the runner did not answer within {WAIT_SECONDS} s: {process.communicate()}")
            time.sleep(0.2)
        _, stderr = process.communicate()
        assert "in use" in stderr, stderr
    raise AssertionError("no free ports in three tries")


def test_sigterm_stops_the_runner_and_frees_its_port() -> None:
    port, process = _started_runner()
    try:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stdout
    assert "Timebok stopped." in stdout
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free again


def test_a_busy_portal_port_fails_at_once_with_one_line() -> None:
    """Issue 18: a busy portal port (PORT+1) failed with a traceback; now one line, as a busy PORT."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        process = _runner(free_port(), "--no-demo", "--portal-port", str(busy), "--oidc-port", str(free_port()))
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.strip().splitlines() == [stderr.strip()], stderr
    assert f"port {busy}" in stderr and "in use" in stderr


def test_stopping_never_waits_for_long_background_work() -> None:
    """Issue 18: `make run` ignored SIGTERM for 35 s while a background closure ran. Stopping
    waits at most STOP_SECONDS for what is stopping, then the runner exits anyway."""
    import threading

    from chalicelib.local.runner import STOP_SECONDS, Stack, stop_within

    release = threading.Event()
    stack = Stack("", "", {}, _stoppers=[lambda: release.wait(60)])
    assert stop_within(stack, 0.2) is False  # it returns although the part is still stopping
    release.set()
    assert STOP_SECONDS < 5
    quick = Stack("", "", {}, _stoppers=[lambda: None])
    assert stop_within(quick, STOP_SECONDS) is True


def test_a_live_stack_whose_port_was_taken_starts_again_on_another(monkeypatch) -> None:
    """tests/live.local_stack: another worker's stack may take a free port before the runner binds
    it; the runner says "in use" and the stack starts again on other ports."""
    from tests import live

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(live, "free_port", lambda: next(ports, None) or free_port())
        with live.local_stack(demo=False) as url:
            assert url != f"http://127.0.0.1:{taken}"
            assert requests.get(f"{url}/health-contacts", timeout=WAIT_SECONDS).status_code == 200


@pytest.mark.skipif(stop_with_parent is None, reason="PR_SET_PDEATHSIG is Linux's")
def test_a_stack_stops_when_the_test_process_that_started_it_is_killed() -> None:
    """An interrupted xdist run kills its workers without their `finally`: what a worker started
    must not be left running (it was: stacks at 25 % of a CPU each until killed by hand)."""
    worker = (
        "import subprocess, sys, time\n"
        "from tests.live import stop_with_parent\n"
        "sleeper = [sys.executable, '-c', 'import time; time.sleep(600)']\n"
        "child = subprocess.Popen(sleeper, preexec_fn=stop_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", worker], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no handler, no finally
    parent.wait(timeout=WAIT_SECONDS)
    deadline = time.monotonic() + WAIT_SECONDS
    while _alive(child):
        assert time.monotonic() < deadline, f"process {child} outlived its parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (stopped, not yet reaped by init) counts as stopped.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
