"""The use-case tests run on the in-memory repository (tests/fakes/memory.py), which
tests/storage/test_contract.py holds to moto's behaviour; what must see DynamoDB itself stays on
moto, marked `moto` here: the stateful property tests, request counting, moto's table or
PynamoDB's transactions patched, the storage's own index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

# Whole modules on moto: the stateful histories and the cost test count or race real conditions;
# the staff index test writes PynamoDB items and makes its own tables.
MOTO_MODULES = frozenset(
    {
        "test_invariant_stateful.py",
        "test_waitlist_stateful.py",
        "test_booking_cost.py",
        "test_staff_index.py",
    }
)
# Single tests on moto: they patch PynamoDB's transaction, read the table's own attributes, or
# check the models' connection. (Tests that count DynamoDB requests, the `dynamodb_calls`
# fixture, are found by that fixture.)
MOTO_TESTS = frozenset(
    {
        "test_transaction_conflict_is_a_lost_race_not_503",
        "test_throttled_health_contact_creation_is_429_not_her_id_taken",
        "test_booking_connection_uses_the_models_short_timeouts",
        "test_holds_leave_nothing_to_sweep_and_an_expired_one_is_free",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if (
            item.path.name in MOTO_MODULES
            or getattr(item, "originalname", item.name) in MOTO_TESTS
            or "dynamodb_calls" in getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.moto)


@pytest.fixture
def storage_backend(request: pytest.FixtureRequest) -> str:
    """`pytest --storage=moto` runs the whole use-case tier on moto (as before the fake)."""
    if request.config.getoption("storage") == "moto" or request.node.get_closest_marker("moto"):
        return "moto"
    return "memory"


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every DynamoDB request by operation (at botocore's level, below PynamoDB)."""
    from botocore.client import BaseClient

    calls: Counter[str] = Counter()
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls[operation] += 1
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    yield calls


@pytest.fixture
def publisher(demo: Any) -> Any:
    """What the deployed stream source does: the slot records since the last call, to the
    publisher's handler (app.publish_availability)."""
    import app
    from chalicelib.booking.availability_docs import is_slot_change
    from chalicelib.local.stream import StreamReader
    from chalicelib.settings import get

    reader = StreamReader(get().table_name, wanted=is_slot_change)
    reader.drain(lambda event: app.publish_availability(event, None))  # what the demo's set-up made

    def publish() -> int:
        return reader.drain(lambda event: app.publish_availability(event, None)).handed

    return publish


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch, publisher: Any) -> None:
    """Views read the documents as published (tests elsewhere publish on every view)."""
    from chalicelib.booking import availability_docs

    monkeypatch.setenv("AVAILABILITY_STALENESS_SECONDS", "2")
    monkeypatch.setattr(availability_docs, "VIEW_MEMO_SECONDS", 0.0)
