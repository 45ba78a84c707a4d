"""What a booking costs in DynamoDB (issue 10): hold + appointment with the guide's four answers
in ≤ 4 requests and ≤ 12 WCU (docs/access-patterns.md has the arithmetic per part;
scripts/bench/ measures the same from item sizes). Cheap guards of the parts that decide it:
the number of requests, the items each transaction writes, their sizes (under 1 KB: 2 WCU in a
transaction, 1 per index entry) and which of them carry index keys."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import KORONATEST_ANSWERS, Citizen, moto_table
from tests.helpers import first_free_slot


def _value_size(value: dict[str, Any]) -> int:
    """DynamoDB's published item-size rules (the types Timebok stores)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return 1 + math.ceil(len(digits) / 2)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(e) for e in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(e) for k, e in inner.items())
    raise AssertionError(f"unexpected type {kind}")


def _size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _stored(pk: str, sk: str) -> dict[str, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = moto_table().get_item(DynamoType({"S": pk}), DynamoType({"S": sk}))
    assert found is not None, (pk, sk)
    return found.to_json()["Attributes"]


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB request (at botocore's level) with its parameters."""
    from botocore.client import BaseClient

    seen: list[tuple[str, dict[str, Any]]] = []
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            seen.append((operation, params))
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    yield seen


def _write_units(parts: list[tuple[str, str]], factor: int) -> int:
    """Each written item: `factor` per KB (2 in a transaction), plus 1 per KB for each index it
    is in (gsi1, gsi2; both project ALL)."""
    units = 0
    for pk, sk in parts:
        item = _stored(pk, sk)
        kb = max(1, math.ceil(_size(item) / 1024))
        units += factor * kb + kb * sum(1 for index in ("gsi1pk", "gsi2pk") if index in item)
    return units


def test_a_booking_costs_at_most_four_requests_and_twelve_write_units(client, demo, requests) -> None:
    # Warm the process's timebook and health contact caches, as in a surge.
    warm = first_free_slot(client, demo.koronatest_id)
    assert client.post("/holds", {"slot_id": warm["id"]}, token=Citizen(70).token).status == 201
    slot = first_free_slot(client, demo.koronatest_id)
    citizen = Citizen(71)
    requests.clear()

    held = client.post("/holds", {"slot_id": slot["id"]}, token=citizen.token)
    assert held.status == 201, held
    hold_requests = list(requests)
    requests.clear()
    made = client.post(
        "/appointments",
        {"hold_id": held.json["id"], "phone": citizen.phone, "answers": KORONATEST_ANSWERS},
        token=citizen.token,
    )
    assert made.status == 201, made
    booking_requests = list(requests)

    assert Counter(op for op, _ in hold_requests) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    assert Counter(op for op, _ in booking_requests) == {"TransactWriteItems": 1}  # nothing after the commit

    def parts(params: dict[str, Any]) -> list[tuple[str, str]]:
        keys = []
        for entry in params["TransactItems"]:
            ((_, op),) = entry.items()
            key = op.get("Key") or op["Item"]
            keys.append((key["pk"]["S"], key["sk"]["S"]))
        return keys

    hold_parts = parts(hold_requests[1][1])
    assert sorted(pk.split("#", 1)[0] for pk, _ in hold_parts) == ["PT", "SLOT"]
    hold_units = _write_units(hold_parts, 2)
    assert hold_units == 4  # slot 2 + person 2: no sweep index entry on the slot

    booking_parts = parts(booking_requests[0][1])
    assert sorted(pk.split("#", 1)[0] for pk, _ in booking_parts) == ["AP", "PT", "SLOT"]  # no outbox item
    appointment = _stored(*next(p for p in booking_parts if p[0].startswith("AP#")))
    assert _size(appointment) < 1024, _size(appointment)  # the guide's four answers and the event, under 1 KB
    assert all("question" not in a["M"] for a in appointment["answers"]["L"])  # texts come from the form
    assert appointment["ev"] == {"M": {"k": {"S": "requested"}}}  # the change carries its event
    booking_units = _write_units(booking_parts, 2)
    assert booking_units == 8  # slot 2 + person 2 + appointment 2 + its gsi1 1 + gsi2 1
    assert len(hold_requests) + len(booking_requests) <= 4
    assert hold_units + booking_units <= 12

    # The API still answers each question's text, named from the timebook's form.
    answers = made.json["answers"]
    assert [a["question_id"] for a in answers] == list(KORONATEST_ANSWERS)
    assert all(a["question"] and a["question"] != a["question_id"] for a in answers)
