"""The unit of work: one DynamoDB transaction whose parts carry names, so a lost condition says
which part lost, and the mapping of DynamoDB's refusals (a condition that did not hold) apart
from faults and throttling (which the HTTP layer answers 503/429).

Shared by every storage module (repository, waitlist, staffwork); nothing outside storage/
builds a transaction or a condition.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import budget, clock, metrics
from chalicelib.errors import Busy
from chalicelib.storage.models import SlotItem

# A write that meets another transaction on the same item is refused by DynamoDB
# (TransactionConflictException, or a transaction cancelled with a TransactionConflict reason);
# botocore does not retry those. Nothing was written, so the same write is sent again after a
# capped exponential backoff with full jitter; past the attempts (or the request's budget) the
# request is load: 429 `busy` with Retry-After, never a 503 or a refusal it did not earn.
CONFLICT_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 0.2


class ConditionFailed(Exception):
    """A guarded write lost: its condition did not hold. `failed` names which part lost."""

    def __init__(self, failed: Sequence[str]) -> None:
        super().__init__(", ".join(failed))
        self.failed = list(failed)


def connection() -> Connection:
    """The models' own connection, for transactions and batch reads: the same short
    connect/read timeouts, retries and pool size as every other request (models._Meta), in the
    table's region. (A Connection of its own would take botocore's 60 s defaults.)"""
    return SlotItem._get_connection().connection


def is_condition_failure(error: Exception) -> bool:
    """A single guarded write (put, update, delete) lost its condition: not a fault."""
    return getattr(error, "cause_response_code", None) in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def is_conflict(error: BaseException) -> bool:
    """DynamoDB refused a write because another transaction was writing the same item at that
    moment: nothing was written. A cancelled transaction counts only when no condition lost
    (a lost condition is an answer, not load)."""
    if getattr(error, "cause_response_code", None) == "TransactionConflictException":
        return True
    codes = {getattr(r, "code", None) for r in getattr(error, "cancellation_reasons", None) or [] if r is not None}
    return "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes


def backoff(attempt: int) -> float:
    """Full jitter: anywhere between 0 and the capped exponential step, so a crowd spreads out."""
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


T = TypeVar("T")


def retrying(write: Callable[[], T]) -> T:
    """Send `write` again while DynamoDB answers a transaction conflict; Busy (429) when spent."""
    attempt = 0
    while True:
        try:
            return write()
        except Exception as error:
            if not is_conflict(error):
                raise
            attempt += 1
            if attempt >= CONFLICT_ATTEMPTS:
                metrics.count("ConflictsSpent")
                raise Busy() from error
            metrics.count("ConflictsRetried")
            clock.sleep(backoff(attempt))
            budget.check()  # a request past its time budget answers 429 instead of waiting on


M = TypeVar("M", bound=Model)


def get_item(model: type[M], pk: str, sk: str, consistent: bool = False) -> M | None:
    """One item by its keys, or None."""
    try:
        return model.get(pk, sk, consistent_read=consistent)
    except model.DoesNotExist:
        return None


class Transaction:
    """A TransactWrite whose parts carry names, so a cancellation says which condition lost.

    PynamoDB sends condition checks, deletes, puts and updates in that order, whatever order
    they were added in; the names follow the same order.
    """

    def __init__(self) -> None:
        self._tx = TransactWrite(connection=connection())
        self._names: dict[str, list[str]] = {"check": [], "delete": [], "put": [], "update": []}

    def check(self, name: str, model: type[Model], pk: str, sk: str, condition: Condition) -> None:
        """A condition on an item the transaction does not write."""
        self._tx.condition_check(model, pk, sk, condition=condition)
        self._names["check"].append(name)

    def save(self, name: str, item: Any, condition: Condition | None = None) -> None:
        self._tx.save(item, condition=condition)
        self._names["put"].append(name)

    def update(self, name: str, item: Any, actions: list[Any], condition: Condition | None = None) -> None:
        assert actions, name
        self._tx.update(item, actions=actions, condition=condition)
        self._names["update"].append(name)

    def commit(self) -> None:
        """Write every part or none; raises ConditionFailed naming the parts that lost, Busy when
        conflicts with other transactions outlast the retries, and any other error as it came."""
        try:
            retrying(self._send)
        except TransactWriteError as error:
            names = self._names["check"] + self._names["delete"] + self._names["put"] + self._names["update"]
            raise ConditionFailed(failed_parts(error, names)) from error

    def _send(self) -> None:
        with self._tx:  # sends every part again: a cancelled transaction wrote nothing
            pass


def failed_parts(error: TransactWriteError, parts: Sequence[str]) -> list[str]:
    reasons = getattr(error, "cancellation_reasons", None) or []
    failed = [
        part
        for part, reason in zip(parts, reasons, strict=False)
        if reason is not None and getattr(reason, "code", None) == "ConditionalCheckFailed"
    ]
    if failed:
        return failed
    raise error  # not a condition: throttling or a fault, let the caller map it (429/503)
