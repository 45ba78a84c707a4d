"""The bench's capacity arithmetic (scripts/bench/capacity.py), rule by rule: docs/capacity.md and
docs/bench.md rest on these figures, so a broken rule must fail here and not in a changed table.

No moto and no AWS: the calculator reads item images from a dict that stands in for the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from scripts.bench.capacity import (
    PARTITION_RCU,
    PARTITION_WCU,
    CapacityCalculator,
    attribute_size,
    gsi_write_units,
    item_size,
    over_table_maximum,
    partition_loads,
    partition_share,
    per_booking,
    read_units,
    stack_load,
    table_load,
    write_units,
)

TABLE = "timebok"
INDEXES = [("gsi1pk", "gsi1sk"), ("gsi2pk", "gsi2sk")]


def s(text: str) -> dict[str, str]:
    return {"S": text}


def padded(pk: str, size: int, **attributes: dict[str, Any]) -> dict[str, Any]:
    """An item of exactly `size` bytes: its key, the given attributes and a string to fill up."""
    item: dict[str, Any] = {"pk": s(pk), "sk": s("A"), **attributes}
    item["pad"] = s("")
    item["pad"] = s("x" * (size - item_size(item)))
    assert item_size(item) == size
    return item


class Tables:
    """The part of MotoTables the calculator uses, over a dict of items keyed by (pk, sk)."""

    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = {(i["pk"]["S"], i["sk"]["S"]): i for i in items}

    def key_of(self, table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in ("pk", "sk") if name in item}

    def get(self, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.items.get((key["pk"]["S"], key["sk"]["S"]))

    def index_keys(self, table_name: str) -> list[tuple[str, ...]]:
        return INDEXES

    def write(self, item: dict[str, Any]) -> None:
        self.items[(item["pk"]["S"], item["sk"]["S"])] = item


def key(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


# ---- item sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (s("abc"), 3),
        (s("æø"), 4),  # UTF-8 bytes, not characters
        ({"N": "7"}, 2),
        ({"N": "123"}, 3),  # 1 byte per two significant digits, plus 1
        ({"N": "1000"}, 2),  # trailing zeros are not significant
        ({"N": "-12.50"}, 3),
        ({"B": b"\x00\x01\x02"}, 3),
        ({"B": "AAEC"}, 3),  # base64 on the wire: the decoded bytes count
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["ab", "c"]}, 3),
        ({"L": [s("ab"), {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),  # 3 bytes + 1 per element
        ({"M": {"k": s("ab")}}, 3 + 1 + 1 + 2),  # 3 bytes + 1 per element + the name
    ],
)
def test_attribute_sizes_follow_dynamodbs_rules(value: dict[str, Any], size: int) -> None:
    assert attribute_size(value) == size


def test_an_item_is_its_names_and_values() -> None:
    assert item_size({"pk": s("SLOT#1"), "capacity": {"N": "2"}}) == 2 + 6 + 8 + 2
    assert item_size(None) == 0


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attribute type"):
        attribute_size({"X": "1"})


# ---- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, True, 1.0), (4096, True, 1.0), (4097, True, 2.0), (4096, False, 0.5), (15_000, False, 2.0)],
)
def test_reads_are_4_kb_units_halved_when_eventually_consistent(size: int, consistent: bool, units: float) -> None:
    assert read_units(size, consistent) == units


@pytest.mark.parametrize(("size", "units"), [(0, 1.0), (1024, 1.0), (1025, 2.0), (3 * 1024, 3.0)])
def test_writes_are_1_kb_units(size: int, units: float) -> None:
    assert write_units(size) == units


def test_gsi_writes_put_delete_or_update_in_place() -> None:
    entry = {"gsi1pk": s("P#1"), "gsi1sk": s("a"), "status": s("booked")}
    moved = {**entry, "gsi1sk": s("b")}
    changed = {**entry, "status": s("cancelled")}
    assert gsi_write_units(None, entry, INDEXES) == 1  # a new entry in gsi1, none in gsi2
    assert gsi_write_units(entry, None, INDEXES) == 1  # removed from gsi1
    assert gsi_write_units(entry, moved, INDEXES) == 2  # a key changed: delete and put
    assert gsi_write_units(entry, changed, INDEXES) == 1  # in place
    assert gsi_write_units(entry, dict(entry), INDEXES) == 0  # nothing changed
    assert gsi_write_units({"x": s("1")}, {"x": s("2")}, INDEXES) == 0  # in no index


# ---- one request's units -----------------------------------------------------------------------


def test_reads_of_each_kind() -> None:
    small, big = padded("TB#1", 300), padded("TB#2", 5000)
    calculator = CapacityCalculator(Tables(small, big))  # type: ignore[arg-type]
    assert calculator.charge("GetItem", {"TableName": TABLE, "Key": key(big)}, {"Item": big}, []) == (1.0, 0.0)
    consistent = {"TableName": TABLE, "Key": key(big), "ConsistentRead": True}
    assert calculator.charge("GetItem", consistent, {"Item": big}, []) == (2.0, 0.0)
    batch = {"RequestItems": {TABLE: {"Keys": [key(small), key(big)]}}}
    assert calculator.charge("BatchGetItem", batch, {"Responses": {TABLE: [small, big]}}, []) == (0.5 + 1.0, 0.0)
    transact = {"Responses": [{"Item": small}, {"Item": big}]}
    assert calculator.charge("TransactGetItems", {}, transact, []) == (2 * (1.0 + 2.0), 0.0)
    query = {"TableName": TABLE}
    assert calculator.charge("Query", query, {"Items": [small, big], "Count": 2, "ScannedCount": 2}, []) == (1.0, 0)


def test_a_query_that_filters_pays_for_what_it_read() -> None:
    item = padded("TB#1", 2000)
    calculator = CapacityCalculator(Tables(item))  # type: ignore[arg-type]
    answer = {"Items": [item], "Count": 1, "ScannedCount": 5}  # 10,000 bytes read, one returned
    assert calculator.charge("Query", {"TableName": TABLE}, answer, []) == (read_units(10_000, False), 0.0)


def test_a_write_costs_the_larger_image_and_a_failed_condition_the_before_image() -> None:
    slot = padded("SLOT#1", 900)
    tables = Tables(slot)
    calculator = CapacityCalculator(tables)  # type: ignore[arg-type]
    update = {"TableName": TABLE, "Key": key(slot)}
    targets = calculator.before("UpdateItem", update)
    tables.write(padded("SLOT#1", 1100))
    assert calculator.charge("UpdateItem", update, {}, targets) == (0.0, 2.0)
    targets = calculator.before("UpdateItem", update)
    assert calculator.charge("UpdateItem", update, None, targets) == (0.0, 2.0)  # failed: charged all the same


def test_a_booking_transaction_is_8_wcu_as_docs_outbox_says() -> None:
    """slot (2) + person (2) + appointment (2) + its gsi1 (1) + gsi2 (1), each item under 1 KB."""
    slot, person = padded("SLOT#1", 350), padded("PT#1", 130)
    tables = Tables(slot, person)
    calculator = CapacityCalculator(tables)  # type: ignore[arg-type]
    appointment = padded("AP#1", 960, gsi1pk=s("P#1"), gsi1sk=s("a"), gsi2pk=s("TB#1#AP#3"), gsi2sk=s("a"))
    params = {
        "TransactItems": [
            {"Update": {"TableName": TABLE, "Key": key(slot)}},
            {"Update": {"TableName": TABLE, "Key": key(person)}},
            {"Put": {"TableName": TABLE, "Item": appointment}},
        ]
    }
    targets = calculator.before("TransactWriteItems", params)
    for item in (padded("SLOT#1", 360), padded("PT#1", 134), appointment):
        tables.write(item)
    assert calculator.charge("TransactWriteItems", params, {}, targets) == (0.0, 8.0)


def test_a_hold_transaction_is_4_wcu_and_a_condition_check_is_charged_as_a_write() -> None:
    slot, person = padded("SLOT#1", 234), padded("PT#1", 93)
    tables = Tables(slot, person)
    calculator = CapacityCalculator(tables)  # type: ignore[arg-type]
    hold = {
        "TransactItems": [
            {"Update": {"TableName": TABLE, "Key": key(slot)}},
            {"Update": {"TableName": TABLE, "Key": key(person)}},
        ]
    }
    targets = calculator.before("TransactWriteItems", hold)
    assert calculator.charge("TransactWriteItems", hold, {}, targets) == (0.0, 4.0)
    check = {"TransactItems": [{"ConditionCheck": {"TableName": TABLE, "Key": key(slot)}}]}
    targets = calculator.before("TransactWriteItems", check)
    assert [t.check_only for t in targets] == [True]
    assert calculator.charge("TransactWriteItems", check, {}, targets) == (0.0, 2.0)


# ---- per booking, per second, per partition --------------------------------------------------------


def test_per_booking_totals() -> None:
    assert per_booking(2_210, 200) == 11.05
    assert per_booking(7, 3) == 2.33
    assert per_booking(10, 0) is None


def test_the_table_load_of_the_10x_surge_in_docs_capacity() -> None:
    """~13 WCU and ~37 RCU per booking at 170 bookings/s: ~2,200 WCU/s and ~6,300 RCU/s."""
    load = table_load(37, 13, 170)
    assert load["wcu_per_second"] == 2_210
    assert load["rcu_per_second"] == 6_290


def test_the_partition_shares_in_docs_capacity_at_1000_bookings_per_second() -> None:
    loads = {
        load.what: load
        for load in partition_loads(1000, month_summary_bytes=15_000, appointment_bytes=960, appointment_shards=8)
    }
    figures = {what: (round(load.units_per_second), round(load.share, 3)) for what, load in loads.items()}
    assert figures == {
        "a slot of first-available's spread: truth reads": (333, 0.111),
        "the month's summaries: one Query per hold": (2000, 0.667),
        "one shard of the staff index (gsi2): one entry per booking": (125, 0.125),
        "the month's summaries: recounts": (150, 0.15),
        "the month's summaries: memoised views, CDN bypassed": (100, 0.033),
    }


def test_a_large_month_of_summaries_is_12_rcu_a_query_and_one_unsharded_index_is_the_limit() -> None:
    (_, month, *_) = partition_loads(1, month_summary_bytes=95 * 1024, appointment_bytes=960, appointment_shards=1)
    assert month.units_per_second == 12
    (*_, shard, _, _) = partition_loads(1000, month_summary_bytes=0, appointment_bytes=960, appointment_shards=1)
    assert shard.share == 1.0  # gsi2 as one partition per timebook: all of it


def test_shares_are_of_one_partitions_limits() -> None:
    assert (PARTITION_RCU, PARTITION_WCU) == (3000, 1000)
    assert partition_share(10_000 * 0.5, PARTITION_RCU) > 1  # uncached views would exceed one item


def test_the_stack_load_is_each_setting_share_and_the_setting_for_half() -> None:
    load = stack_load(rcu_per_booking=22.0, wcu_per_booking=13.2, http_per_booking=11.0, bookings_per_second=1000)
    read, write, stage = (
        load["TableWarmReadUnitsPerSecond"],
        load["TableWarmWriteUnitsPerSecond"],
        load["ApiThrottlingRateLimit"],
    )
    assert (read["per_second"], read["share"], read["setting_for_headroom"]) == (22_000, 1.833, 44_000)
    assert (write["per_second"], write["share"], write["setting_for_headroom"]) == (13_200, 2.2, 27_000)
    assert (stage["per_second"], stage["share"], stage["setting_for_headroom"]) == (11_000, 5.5, 22_000)
    assert over_table_maximum(load) == ["TableWarmReadUnitsPerSecond"]  # 44,000 > 40,000: a quota to raise


def test_a_small_load_keeps_the_defaults_and_a_given_setting_is_used() -> None:
    load = stack_load(1.0, 1.0, 1.0, 100, settings={"ApiThrottlingRateLimit": 400})
    assert load["TableWarmReadUnitsPerSecond"]["setting_for_headroom"] == 12_000  # never below the default
    assert load["ApiThrottlingRateLimit"]["share"] == 0.25
    assert over_table_maximum(load) == []
