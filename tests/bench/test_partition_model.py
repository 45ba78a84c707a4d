"""The partition model (issue 20): per kind of key, the hottest key's RCU and WCU per second at a
booking rate, scaled from the units a run counted on each key. No moto: tallies made by hand."""

from __future__ import annotations

from collections import Counter

from scripts.bench.capacity import PARTITION_RCU, PARTITION_WCU, key_class, partition_keys, partition_model


def test_the_keys_of_each_kind_of_request() -> None:
    slot = {"pk": {"S": "SLOT#tb0a1b2c3d4e_loc0a1b2c3d4e_202612070800"}, "sk": {"S": "SLOT"}}
    person = {"pk": {"S": "PT#tb0a1b2c3d4e#24085038849"}, "sk": {"S": "PT"}}
    assert partition_keys("GetItem", {"Key": slot}) == [slot["pk"]["S"]]
    assert partition_keys("BatchGetItem", {"RequestItems": {"t": {"Keys": [slot, person, slot]}}}) == [
        slot["pk"]["S"],
        person["pk"]["S"],
    ]
    transaction = {"TransactItems": [{"Update": {"Key": slot}}, {"Put": {"Item": person}}]}
    assert partition_keys("TransactWriteItems", transaction) == [slot["pk"]["S"], person["pk"]["S"]]
    query = {
        "KeyConditionExpression": "#0 = :0 AND #1 >= :1",
        "ExpressionAttributeNames": {"#0": "pk", "#1": "sk"},
        "ExpressionAttributeValues": {":0": {"S": "TB#tb0a1b2c3d4e#AV#2026-12"}, ":1": {"S": "D#2026-12-07"}},
    }
    assert partition_keys("Query", query) == ["TB#tb0a1b2c3d4e#AV#2026-12"]
    on_index = {**query, "IndexName": "gsi2", "ExpressionAttributeNames": {"#0": "gsi2pk", "#1": "gsi2sk"}}
    assert partition_keys("Query", on_index) == ["gsi2:TB#tb0a1b2c3d4e#AV#2026-12"]


def test_kinds_leave_the_ids_out() -> None:
    assert key_class("SLOT#tb0a1b2c3d4e_loc0a1b2c3d4e_202612070800") == "SLOT#*"
    assert key_class("TB#tb0a1b2c3d4e#AV#2026-12") == "TB#*#AV#{month}"
    assert key_class("PT#tb0a1b2c3d4e#24085038849") == "PT#*#*"
    assert key_class("AP#ap0a1b2c3d4e") == "AP#*"


def test_the_hottest_key_of_each_kind_scaled_to_a_booking_rate() -> None:
    """100 bookings counted: the month's summaries took 200 RCU, one slot 30 RCU and 6 WCU, another
    slot less; at 1,000 bookings/s the summaries' key is 2,000 RCU/s, two thirds of a partition."""
    tally = Counter(
        {
            "key:TB#tb0a1b2c3d4e#AV#2026-12:rcu": 200.0,
            "key:TB#tb0a1b2c3d4e#AV#2026-12:wcu": 0.0,
            "key:SLOT#tb0a1b2c3d4e_loc0a1b2c3d4e_202612070800:rcu": 30.0,
            "key:SLOT#tb0a1b2c3d4e_loc0a1b2c3d4e_202612070800:wcu": 6.0,
            "key:SLOT#tb0a1b2c3d4e_loc0a1b2c3d4e_202612070815:rcu": 10.0,
            "key:SLOT#tb0a1b2c3d4e_loc0a1b2c3d4e_202612070815:wcu": 2.0,
            "rcu": 240.0,
        }
    )
    model = partition_model(tally, bookings=100, bookings_per_second=1000)
    assert [m.kind for m in model] == ["TB#*#AV#{month}", "SLOT#*"]
    first, slot = model
    assert (first.rcu_per_second, first.wcu_per_second) == (2000.0, 0.0)
    assert first.share == 2000.0 / PARTITION_RCU
    assert slot.key.endswith("0800") and (slot.rcu_per_second, slot.wcu_per_second) == (300.0, 60.0)
    assert slot.share == max(300.0 / PARTITION_RCU, 60.0 / PARTITION_WCU)
    assert partition_model(tally, bookings=0, bookings_per_second=1000) == []
