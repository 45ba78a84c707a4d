"""The local stand-in: atomic request handling and resources created from the CFN template.

Why: the booking guarantees (a place is won by exactly one booking, and a transaction's
writes land together or not at all) are tested locally against moto over HTTP. That is
only meaningful if the stand-in itself does not lose or half-apply concurrent writes,
and if it has the same table/queue shape as production.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.local.standin import DEFAULT_TEMPLATE_PATH, AtomicMotoServer, create_resources

REGION = "eu-north-1"
THREADS = 32
TRANSACTIONS_PER_THREAD = 10
PLACES = 8
# Extra items make moto's per-transaction deep copy of the table slow enough that,
# without the lock, the race reliably shows up (500s, and losers' writes surviving).
SEED_ITEMS = 100

# No retries: a retried TransactWriteItems whose first attempt did commit would be
# reported as a lost race, and a retried 500 would hide exactly what we test for.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=2)


def _client(endpoint_url: str, service: str) -> Any:
    """A boto3 client on its own session (sessions are not thread-safe), dummy credentials."""
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    return session.client(service, endpoint_url=endpoint_url, config=_CLIENT_CONFIG)


def _names() -> dict[str, str]:
    """Unique names per test: moto's state is process-global and outlives a server."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "table_name": f"timebok-{suffix}",
        "queue_name": f"events-{suffix}.fifo",
        "dead_letter_queue_name": f"events-dlq-{suffix}.fifo",
    }


@pytest.fixture(scope="module")
def server() -> Iterator[AtomicMotoServer]:
    with AtomicMotoServer(port=0) as srv:
        yield srv


def test_server_reports_bound_port_and_stops() -> None:
    srv = AtomicMotoServer()
    with pytest.raises(RuntimeError):
        _ = srv.endpoint_url
    with srv:
        assert srv.endpoint_url.startswith("http://127.0.0.1:")
        assert not srv.endpoint_url.endswith(":0")
        assert _client(srv.endpoint_url, "dynamodb").list_tables()["TableNames"] is not None
    srv.stop()  # a second stop is harmless


@dataclass
class _RaceResult:
    wins: list[tuple[str, int]] = field(default_factory=list)  # (claim id, place)
    errors: list[str] = field(default_factory=list)
    cancellations: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.mark.race
def test_concurrent_conditional_transactions_each_place_won_once(server: AtomicMotoServer) -> None:
    names = _names()
    table = create_resources(server.endpoint_url, REGION, **names)["table_name"]
    seeder = _client(server.endpoint_url, "dynamodb")
    for start in range(0, SEED_ITEMS, 25):
        seeder.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"SEED#{n}"}, "sk": {"S": "SEED"}, "pad": {"S": "x" * 100}}}}
                    for n in range(start, min(start + 25, SEED_ITEMS))
                ]
            }
        )

    result = _RaceResult()
    clients = [_client(server.endpoint_url, "dynamodb") for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def worker(thread_no: int) -> None:
        client = clients[thread_no]
        barrier.wait()
        for i in range(TRANSACTIONS_PER_THREAD):
            place = (thread_no + i) % PLACES
            claim = f"{thread_no}-{i}"
            try:
                client.transact_write_items(
                    TransactItems=[
                        # The unconditional write first: when the claim below fails, this one
                        # has already been applied and must be rolled back.
                        {
                            "Put": {
                                "TableName": table,
                                "Item": {
                                    "pk": {"S": f"CLAIM#{claim}"},
                                    "sk": {"S": "CLAIM"},
                                    "place": {"N": str(place)},
                                },
                            }
                        },
                        {
                            "Put": {
                                "TableName": table,
                                "Item": {
                                    "pk": {"S": "SLOT#1"},
                                    "sk": {"S": f"PLACE#{place}"},
                                    "claim": {"S": claim},
                                },
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
            except ClientError as err:
                error = err.response.get("Error", {})
                reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
                with result.lock:
                    if error.get("Code") == "TransactionCanceledException" and reasons == [
                        "None",
                        "ConditionalCheckFailed",
                    ]:
                        result.cancellations[str(place)] += 1
                    else:
                        result.errors.append(f"{error.get('Code')}: {error.get('Message', '')[:200]} {reasons}")
            except Exception as exc:  # transport errors etc. must fail the test, not the thread
                with result.lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                with result.lock:
                    result.wins.append((claim, place))

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "race workers hung"

    assert result.errors == []
    assert sorted(place for _, place in result.wins) == list(range(PLACES))
    assert len(result.wins) + sum(result.cancellations.values()) == THREADS * TRANSACTIONS_PER_THREAD

    places = seeder.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "SLOT#1"}},
        ConsistentRead=True,
    )["Items"]
    stored_places = {item["sk"]["S"]: item["claim"]["S"] for item in places}
    assert stored_places == {f"PLACE#{place}": claim for claim, place in result.wins}

    # Atomicity: the unconditional write survived for the winners, and only for them.
    claims: dict[str, int] = {}
    paginator = seeder.get_paginator("scan")
    for page in paginator.paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :claim)",
        ExpressionAttributeValues={":claim": {"S": "CLAIM#"}},
        ConsistentRead=True,
    ):
        for item in page["Items"]:
            claims[item["pk"]["S"].removeprefix("CLAIM#")] = int(item["place"]["N"])
    assert claims == dict(result.wins)


def test_create_resources_is_idempotent_and_follows_template(server: AtomicMotoServer) -> None:
    names = _names()
    first = create_resources(server.endpoint_url, REGION, **names)
    second = create_resources(server.endpoint_url, REGION, **names)
    assert first == second
    assert first["table_name"] == names["table_name"]
    assert first["queue_url"].endswith("/" + names["queue_name"])
    assert first["dead_letter_queue_url"].endswith("/" + names["dead_letter_queue_name"])

    template = yaml.safe_load(Path(DEFAULT_TEMPLATE_PATH).read_text(encoding="utf-8"))["Resources"]
    table_props = template["TimebokTable"]["Properties"]

    dynamodb = _client(server.endpoint_url, "dynamodb")
    table = dynamodb.describe_table(TableName=names["table_name"])["Table"]
    assert table["KeySchema"] == table_props["KeySchema"]
    assert {d["AttributeName"] for d in table["AttributeDefinitions"]} == {
        d["AttributeName"] for d in table_props["AttributeDefinitions"]
    }
    gsis = {g["IndexName"]: g["KeySchema"] for g in table["GlobalSecondaryIndexes"]}
    assert gsis == {g["IndexName"]: g["KeySchema"] for g in table_props["GlobalSecondaryIndexes"]}
    assert {"gsi1", "gsi2"} <= gsis.keys()
    assert table["BillingModeSummary"]["BillingMode"] == table_props["BillingMode"]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": table_props["StreamSpecification"]["StreamViewType"],
    }
    ttl = dynamodb.describe_time_to_live(TableName=names["table_name"])["TimeToLiveDescription"]
    assert ttl == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": table_props["TimeToLiveSpecification"]["AttributeName"],
    }

    sqs = _client(server.endpoint_url, "sqs")
    dlq = sqs.get_queue_attributes(QueueUrl=first["dead_letter_queue_url"], AttributeNames=["All"])["Attributes"]
    queue = sqs.get_queue_attributes(QueueUrl=first["queue_url"], AttributeNames=["All"])["Attributes"]
    assert dlq["FifoQueue"] == "true"
    assert dlq["MessageRetentionPeriod"] == str(
        template["EventsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    )
    assert queue["FifoQueue"] == "true"
    assert queue["ContentBasedDeduplication"] == "false"
    assert queue["VisibilityTimeout"] == str(template["EventsQueue"]["Properties"]["VisibilityTimeout"])
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5


def test_create_resources_rejects_non_fifo_queue_names(server: AtomicMotoServer) -> None:
    names = _names() | {"queue_name": "events"}
    with pytest.raises(ValueError, match=r"\.fifo"):
        create_resources(server.endpoint_url, REGION, **names)


def test_create_resources_fails_loudly_on_untranslated_table_property(server: AtomicMotoServer, tmp_path: Path) -> None:
    template = yaml.safe_load(DEFAULT_TEMPLATE_PATH.read_text(encoding="utf-8"))
    template["Resources"]["TimebokTable"]["Properties"]["SomeFutureProperty"] = {"Enabled": True}
    path = tmp_path / "resources.yaml"
    path.write_text(yaml.safe_dump(template), encoding="utf-8")
    with pytest.raises(ValueError, match="SomeFutureProperty"):
        create_resources(server.endpoint_url, REGION, **_names(), template_path=path)
