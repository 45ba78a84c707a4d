"""chalicelib.budget: past its time budget a request answers 429 + Retry-After, and the budget is
spent only when the clock moves (tests move it; a busy machine cannot)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import budget, clock
from chalicelib.errors import Throttled
from tests.conftest import Citizen


@pytest.fixture
def request_budget() -> Iterator[None]:
    """What chalicelib.http.handlers does around every route."""
    token = budget.start()
    yield
    budget.reset(token)


def test_the_budget_is_spent_only_when_the_clock_moves(request_budget: None) -> None:
    budget.check()
    clock.advance(timedelta(seconds=budget.DEFAULT_SECONDS))
    budget.check()  # at the deadline, not past it
    clock.advance(timedelta(milliseconds=1))
    with pytest.raises(Throttled) as refused:
        budget.check()
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "2"}


def test_outside_a_request_there_is_no_budget() -> None:
    clock.advance(timedelta(hours=1))
    budget.check()


def test_the_stage_sets_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUEST_BUDGET_SECONDS", "1.5")
    token = budget.start()
    try:
        clock.advance(timedelta(seconds=1.5))
        budget.check()
        clock.advance(timedelta(milliseconds=1))
        with pytest.raises(Throttled):
            budget.check()
    finally:
        budget.reset(token)


def test_a_request_past_its_budget_answers_429(client: Any, demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DynamoDB call takes 7 s of the test's clock: the next check answers 429, nothing sleeps."""
    from botocore.client import BaseClient

    real = BaseClient._make_api_call

    def slow(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            clock.advance(timedelta(seconds=7))
        return real(self, operation, params)

    hold = {"timebook_id": demo.koronatest_id}
    with monkeypatch.context() as slowed:
        slowed.setattr(BaseClient, "_make_api_call", slow)
        resp = client.post("/holds", hold, token=Citizen(801).token)
    assert resp.status == 429, resp
    assert resp.headers.get("retry-after") == "2" and resp.json["error"]["code"] == "throttled"
    assert client.post("/holds", hold, token=Citizen(801).token).status == 201, "only the budget refused it"


def test_a_background_run_takes_the_first_item_always_and_the_rest_while_time_remains() -> None:
    taken: list[int] = []
    for n in budget.within(range(5), clock.monotonic() + 1.0):
        taken.append(n)
        if n == 2:
            clock.advance(timedelta(seconds=2))  # past the deadline: 3 and 4 are the next run's
    assert taken == [0, 1, 2]
    assert list(budget.within(range(3), clock.monotonic() - 1.0)) == [0]  # late already: one, so every run gets on
