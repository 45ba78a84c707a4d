"""DynamoDB's transaction conflicts, as the local stand-in injects them (chalicelib/local/
moto_server.Conflicts), and their one retry (storage/transactions.retrying): a plain write
meeting a transaction gets TransactionConflictException, a transaction is cancelled with a
TransactionConflict reason; nothing is written; the write is sent again with backoff and full
jitter, through chalicelib.clock (stopped in tests: no test waits), and is 429 `busy` once spent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError

from chalicelib import clock, metrics
from chalicelib.domain.slots import SlotRef, slot_ref
from chalicelib.errors import Busy
from chalicelib.http.errors import to_timebok_error
from chalicelib.local.moto_server import Conflicts
from chalicelib.storage import claims, keys, transactions
from chalicelib.storage.models import AuditItem, SlotItem
from chalicelib.storage.transactions import ConditionFailed, Transaction, is_conflict, retrying
from tests.conftest import moto_aws

pytestmark = pytest.mark.fast


@pytest.fixture
def ref() -> Iterator[SlotRef]:
    with moto_aws():
        ref = slot_ref("tb1a", "loc2b", clock.local(clock.now()) + timedelta(days=3))
        pk, sk = keys.slot(ref)
        SlotItem(
            pk,
            sk,
            slot_id=ref.slot_id,
            timebook_id="tb1a",
            location_id="loc2b",
            start="s",
            end="e",
            capacity=2,
            places={},
        ).save()
        yield ref


@pytest.fixture
def conflicts() -> Iterator[Any]:
    """Install a Conflicts at a rate, seeded; undone after the test."""
    undo: list[Any] = []

    def at(rate: float, seed: int = 7) -> Conflicts:
        made = Conflicts(rate, seed)
        undo.append(made.install())
        return made

    yield at
    for step in undo:
        step()


def _touch(ref: SlotRef, value: str = "touched") -> None:
    claims.slot_key_item(ref).update(actions=[SlotItem.end.set(value)])


def _end(ref: SlotRef) -> str:
    return str(SlotItem.get(*keys.slot(ref), consistent_read=True).end)


def test_a_plain_write_meets_a_transaction_and_writes_nothing(ref: SlotRef, conflicts: Any) -> None:
    conflicts(1.0)
    with pytest.raises(UpdateError) as raised:
        _touch(ref)
    assert raised.value.cause_response_code == "TransactionConflictException"
    assert is_conflict(raised.value)
    assert _end(ref) == "e"


def test_a_transaction_is_cancelled_with_a_conflict_reason_on_one_item(ref: SlotRef, conflicts: Any) -> None:
    conflicts(1.0)
    tx = transactions.TransactWrite(connection=transactions.connection())
    tx.update(claims.slot_key_item(ref), actions=[SlotItem.end.set("x")])
    tx.save(AuditItem("AUDIT#t", "1", id="1", action="a", target="t", at="now", actor="x"))
    with pytest.raises(TransactWriteError) as raised, tx:
        pass
    codes = [r.code if r else None for r in raised.value.cancellation_reasons]
    assert codes.count("TransactionConflict") == 1 and codes.count(None) == 1
    assert is_conflict(raised.value)
    assert _end(ref) == "e"


def test_retrying_sends_again_until_it_goes_through(ref: SlotRef, conflicts: Any) -> None:
    clock.stop_monotonic()
    made = conflicts(0.5, seed=3)
    metrics.reset()
    for n in range(20):
        retrying(lambda n=n: _touch(ref, f"v{n}"))
        assert _end(ref) == f"v{n}"
    assert made.injected > 0
    assert metrics.snapshot().counters["ConflictsRetried"] == made.injected


def test_spent_retries_are_busy_429_with_retry_after(ref: SlotRef, conflicts: Any) -> None:
    clock.stop_monotonic()
    conflicts(1.0)
    before = clock.monotonic()
    with pytest.raises(Busy) as raised:
        retrying(lambda: _touch(ref))
    waited = clock.monotonic() - before
    assert 0 < waited <= transactions.CONFLICT_ATTEMPTS * transactions.BACKOFF_CAP_SECONDS  # capped
    assert raised.value.status == 429 and raised.value.code == "busy"
    assert raised.value.headers["Retry-After"] == "1"


def test_a_named_transaction_spent_is_busy_not_a_lost_condition(ref: SlotRef, conflicts: Any) -> None:
    clock.stop_monotonic()
    conflicts(1.0)
    tx = Transaction()
    tx.update("place", claims.slot_key_item(ref), [SlotItem.end.set("x")])
    with pytest.raises(Busy):
        tx.commit()
    assert _end(ref) == "e"


def test_a_lost_condition_is_not_a_conflict_and_not_retried(ref: SlotRef, conflicts: Any) -> None:
    conflicts(0.0)
    tx = Transaction()
    tx.update("place", claims.slot_key_item(ref), [SlotItem.end.set("x")], SlotItem.capacity == 5)
    with pytest.raises(ConditionFailed) as lost:
        tx.commit()
    assert lost.value.failed == ["place"]
    assert not is_conflict(lost.value.__cause__ or lost.value)


def test_a_condition_beside_a_conflict_is_the_answer() -> None:
    class Reason:
        def __init__(self, code: str) -> None:
            self.code = code

    class Cancelled(Exception):
        cause_response_code = "TransactionCanceledException"

        def __init__(self, *reasons: Reason | None) -> None:
            self.cancellation_reasons = list(reasons)

    assert not is_conflict(Cancelled(Reason("ConditionalCheckFailed"), Reason("TransactionConflict")))
    assert is_conflict(Cancelled(None, Reason("TransactionConflict")))


def test_an_unretried_conflict_still_answers_429_never_503(ref: SlotRef, conflicts: Any) -> None:
    conflicts(1.0)
    with pytest.raises(PutError) as raised:
        AuditItem("X", "Y", id="1", action="a", target="t", at="now", actor="x").save()
    mapped = to_timebok_error(raised.value)
    assert mapped is not None and (mapped.status, mapped.code) == (429, "busy")


def test_the_rate_is_checked_and_read_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        Conflicts(1.5)
    monkeypatch.delenv("LOCAL_CONFLICT_RATE", raising=False)
    assert Conflicts.from_settings() is None
    monkeypatch.setenv("LOCAL_CONFLICT_RATE", "0.3")
    monkeypatch.setenv("LOCAL_CONFLICT_SEED", "11")
    made = Conflicts.from_settings()
    assert made is not None and made.rate == 0.3
    again = Conflicts(0.3, 11)
    assert [made.refuse("PutItem", {}) is None for _ in range(50)] == [
        again.refuse("PutItem", {}) is None for _ in range(50)
    ]  # seeded: the same writes refused
    assert made.refuse("GetItem", {}) is None and made.refuse("Query", {}) is None  # writes only


def test_retries_stop_at_the_request_budget(ref: SlotRef, conflicts: Any) -> None:
    from chalicelib import budget
    from chalicelib.errors import Throttled

    clock.stop_monotonic()
    conflicts(1.0)
    token = budget.start(0.001)  # spent by the first backoff
    try:
        with pytest.raises(Throttled) as raised:
            retrying(lambda: _touch(ref))
    finally:
        budget.reset(token)
    assert raised.value.status == 429  # "throttled" (the budget), never a wait past it
