"""The unit of work: one DynamoDB transaction whose parts carry names, so a lost condition says
which part lost, and the mapping of DynamoDB's refusals (a condition that did not hold) apart
from faults and throttling (which the HTTP layer answers 503/429).

Shared by every storage module (repository, waitlist, staffwork); nothing outside storage/
builds a transaction or a condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.storage.models import SlotItem


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
        """Write every part or none; raises ConditionFailed naming the parts that lost ("conflict"
        when another transaction was writing the same item), and any other error as it came."""
        try:
            with self._tx:
                pass
        except TransactWriteError as error:
            names = self._names["check"] + self._names["delete"] + self._names["put"] + self._names["update"]
            raise ConditionFailed(failed_parts(error, names)) from error


def failed_parts(error: TransactWriteError, parts: Sequence[str]) -> list[str]:
    reasons = getattr(error, "cancellation_reasons", None) or []
    failed = [
        part
        for part, reason in zip(parts, reasons, strict=False)
        if reason is not None and getattr(reason, "code", None) == "ConditionalCheckFailed"
    ]
    if failed:
        return failed
    if any(getattr(r, "code", None) == "TransactionConflict" for r in reasons if r is not None):
        # Another transaction was writing the same item at that moment: a lost race, try again.
        return ["conflict"]
    if getattr(error, "cause_response_code", None) == "TransactionConflictException":
        return ["conflict"]
    raise error  # not a condition: throttling or a fault, let the caller map it (429/503)
