"""`make run` serves many requests at once through one app object: each view must see its own
request (and so its own caller), as each Lambda invocation does."""

from __future__ import annotations

import threading

import pytest
from chalice import Chalice

from chalicelib.http.application import TimebokApp

pytestmark = pytest.mark.fast


def _seen_by_threads(app: Chalice, threads: int = 8) -> list[tuple[int, object]]:
    barrier = threading.Barrier(threads)
    seen: list[tuple[int, object]] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        app.current_request = n  # what Chalice.__call__ does before it runs the view
        barrier.wait()  # every thread has set its own before any reads
        with lock:
            seen.append((n, app.current_request))

    workers = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return seen


def test_each_thread_sees_its_own_request() -> None:
    app = TimebokApp(app_name="t")
    assert app.current_request is None
    assert all(n == request for n, request in _seen_by_threads(app))


def test_plain_chalice_shares_one_request_between_threads() -> None:
    """Why TimebokApp exists: with Chalice's own attribute, threads read each other's request."""
    assert any(n != request for n, request in _seen_by_threads(Chalice(app_name="t")))


def test_the_app_is_a_timebok_app() -> None:
    from app import app

    assert isinstance(app, TimebokApp)
