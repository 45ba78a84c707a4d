"""The local stand-in: atomic request handling and resources created from the CFN template.

Why: the booking guarantees (a place is won by exactly one booking, and a transaction's
writes land together or not at all) are tested locally against moto over HTTP. That is
only meaningful if the stand-in itself does not lose or half-apply concurrent writes,
and if it has the same table/queue shape as production.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.local.cloudformation import DEFAULT_TEMPLATE_PATH
from chalicelib.local.moto_server import AtomicMotoServer
from chalicelib.local.resources import create_resources
from tests.live import WAIT_SECONDS

REGION = "eu-north-1"
THREADS = 32
TRANSACTIONS_PER_THREAD = 10
PLACES = 8
# A short GIL switch interval interleaves moto's request threads inside its transaction
# code, so that without the lock the race reliably shows up: with plain moto as 500s
# ("dictionary changed size during iteration", its whole-table deep copy is slower with
# some items in the table), with tests/conftest.py's moto_patches as places won twice.
SEED_ITEMS = 25
SWITCH_INTERVAL_S = 1e-4

# No retries: a retried TransactWriteItems whose first attempt did commit would be
# reported as a lost race, and a retried 500 would hide exactly what we test for.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=2)


def _session() -> boto3.session.Session:
    """A session with dummy credentials; one per thread that creates clients (not thread-safe)."""
    return boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def _client(endpoint_url: str, service: str, session: boto3.session.Session | None = None) -> Any:
    """A boto3 client against the stand-in (clients, unlike sessions, may be shared across threads)."""
    return (session or _session()).client(service, endpoint_url=endpoint_url, config=_CLIENT_CONFIG)


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


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Make thread interleavings inside moto likely, so a missing lock cannot go unnoticed."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@dataclass
class _RaceResult:
    wins: list[tuple[str, int, int]] = field(default_factory=list)  # (claim id, slot, place)
    errors: list[str] = field(default_factory=list)
    cancellations: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _claim_place(table: str, claim: str, slot: int, place: int) -> list[dict[str, Any]]:
    """A booking-shaped transaction: a conditional claim of a place plus a second Put."""
    return [
        # The unconditional write first: when the claim fails, this one has already been
        # applied inside moto and must be rolled back.
        {
            "Put": {
                "TableName": table,
                "Item": {
                    "pk": {"S": f"CLAIM#{claim}"},
                    "sk": {"S": "CLAIM"},
                    "slot": {"N": str(slot)},
                    "place": {"N": str(place)},
                },
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"SLOT#{slot}"}, "sk": {"S": f"PLACE#{place}"}, "claim": {"S": claim}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]


@pytest.mark.race
@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_conditional_transactions_each_place_won_once(server: AtomicMotoServer) -> None:
    """Every round, all threads race for the PLACES places of a fresh slot at once."""
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
    # One client per thread, all made here from one session: its loaded API models are reused.
    session = _session()
    clients = [_client(server.endpoint_url, "dynamodb", session) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS, timeout=30)

    def worker(thread_no: int) -> None:
        client = clients[thread_no]
        for slot in range(TRANSACTIONS_PER_THREAD):
            place = (thread_no + slot) % PLACES  # THREADS / PLACES contenders per place
            claim = f"{thread_no}-{slot}"
            barrier.wait()
            try:
                client.transact_write_items(TransactItems=_claim_place(table, claim, slot, place))
            except ClientError as err:
                error = err.response.get("Error", {})
                reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
                with result.lock:
                    if error.get("Code") == "TransactionCanceledException" and reasons == [
                        "None",
                        "ConditionalCheckFailed",
                    ]:
                        result.cancellations += 1
                    else:
                        result.errors.append(f"{error.get('Code')}: {error.get('Message', '')[:200]} {reasons}")
            except Exception as exc:  # transport errors etc. must fail the test, not the thread
                with result.lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                with result.lock:
                    result.wins.append((claim, slot, place))

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "race workers hung"

    assert result.errors == []
    all_places = [(slot, place) for slot in range(TRANSACTIONS_PER_THREAD) for place in range(PLACES)]
    assert sorted((slot, place) for _, slot, place in result.wins) == all_places  # each won exactly once
    assert len(result.wins) + result.cancellations == THREADS * TRANSACTIONS_PER_THREAD

    stored_places: dict[tuple[int, int], str] = {}
    for slot in range(TRANSACTIONS_PER_THREAD):
        items = seeder.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"SLOT#{slot}"}},
            ConsistentRead=True,
        )["Items"]
        for item in items:
            stored_places[(slot, int(item["sk"]["S"].removeprefix("PLACE#")))] = item["claim"]["S"]
    assert stored_places == {(slot, place): claim for claim, slot, place in result.wins}

    # Atomicity: the unconditional write survived for the winners, and only for them.
    claims: dict[str, tuple[int, int]] = {}
    for page in seeder.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(pk, :claim)",
        ExpressionAttributeValues={":claim": {"S": "CLAIM#"}},
        ConsistentRead=True,
    ):
        for item in page["Items"]:
            claims[item["pk"]["S"].removeprefix("CLAIM#")] = (int(item["slot"]["N"]), int(item["place"]["N"]))
    assert claims == {claim: (slot, place) for claim, slot, place in result.wins}


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


def test_create_resources_resolves_other_intrinsic_forms(server: AtomicMotoServer, tmp_path: Path) -> None:
    """A template rewritten with Fn::Sub / short GetAtt / Tags still yields the same wiring."""
    template = yaml.safe_load(DEFAULT_TEMPLATE_PATH.read_text(encoding="utf-8"))
    queue_props = template["Resources"]["EventsQueue"]["Properties"]
    queue_props["RedrivePolicy"]["deadLetterTargetArn"] = {
        "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${EventsDeadLetterQueue.QueueName}"
    }
    queue_props["Tags"] = [{"Key": "table", "Value": {"Ref": "TimebokTable"}}]
    template["Resources"]["EventsDeadLetterQueue"]["Properties"]["Tags"] = [
        {"Key": "arn", "Value": {"Fn::GetAtt": "TimebokTable.Arn"}}
    ]
    path = tmp_path / "resources.yaml"
    path.write_text(yaml.safe_dump(template), encoding="utf-8")
    names = _names()

    created = create_resources(server.endpoint_url, REGION, **names, template_path=path)

    sqs = _client(server.endpoint_url, "sqs")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=created["dead_letter_queue_url"], AttributeNames=["QueueArn"])
    redrive = sqs.get_queue_attributes(QueueUrl=created["queue_url"], AttributeNames=["RedrivePolicy"])
    assert (
        json.loads(redrive["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn["Attributes"]["QueueArn"]
    )
    assert sqs.list_queue_tags(QueueUrl=created["queue_url"])["Tags"] == {"table": names["table_name"]}
    dlq_tags = sqs.list_queue_tags(QueueUrl=created["dead_letter_queue_url"])["Tags"]
    assert dlq_tags["arn"].endswith(":table/" + names["table_name"])


# ---- load shedding: refuse what cannot be served in time, as DynamoDB does ----------------------


def _slow_app(seconds: float) -> Any:
    import time as _time

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        _time.sleep(seconds)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    return app


def _call(app: Any, target: str = "DynamoDB_20120810.GetItem") -> tuple[str, bytes, float]:
    import io
    import time as _time

    seen: dict[str, str] = {}
    environ = {"wsgi.input": io.BytesIO(b"{}"), "CONTENT_LENGTH": "2", "HTTP_X_AMZ_TARGET": target}
    started = _time.monotonic()
    body = b"".join(app(environ, lambda status, headers: seen.setdefault("status", status)))
    return seen["status"], body, _time.monotonic() - started


def test_a_full_queue_sheds_dynamodb_requests_with_throttling() -> None:
    """Requests beyond the bound are refused at once with DynamoDB's ThrottlingException, and no
    request waits much longer than the stated wait: load never turns into client timeouts."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.local.moto_server import SerializedWSGIApp, Shedding

    app = SerializedWSGIApp(_slow_app(0.05), threading.Lock(), Shedding(max_waiting=3, max_wait_seconds=0.3))
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: _call(app), range(32)))
    statuses = [status for status, _, _ in results]
    shed = [body for status, body, _ in results if status.startswith("400")]
    assert statuses.count("200 OK") >= 3 and shed, statuses
    assert all(json.loads(body)["__type"].endswith("#ThrottlingException") for body in shed)
    assert app.shed == len(shed)
    assert max(elapsed for _, _, elapsed in results) < 0.3 + 0.05 * 2 + 0.5, "a request waited past the bound"


def test_shedding_spares_other_services() -> None:
    """Only DynamoDB requests are shed (SQS sends are few and would have no throttling answer)."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.local.moto_server import SerializedWSGIApp, Shedding

    app = SerializedWSGIApp(_slow_app(0.01), threading.Lock(), Shedding(max_waiting=1, max_wait_seconds=0.01))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _call(app, "AmazonSQS.SendMessage"), range(16)))
    assert all(status == "200 OK" for status, _, _ in results)


def test_botocore_sees_shed_requests_as_throttling() -> None:
    """Through a real client the refusal is a ThrottlingException (botocore retries it; the app
    answers 429 once retries are spent)."""
    from chalicelib.http.errors import THROTTLING_CODES
    from chalicelib.local.moto_server import Shedding

    server = AtomicMotoServer(shedding=Shedding(max_waiting=0, max_wait_seconds=1.0))
    with server:
        client = _client(server.endpoint_url, "dynamodb")
        with pytest.raises(ClientError) as caught:
            client.list_tables()
    assert caught.value.response["Error"]["Code"] in THROTTLING_CODES


def test_the_feed_host_answers_get_feed_slash_instead_of_dropping_the_connection() -> None:
    """Issue 18: `GET /feed/` (no file named) dropped the connection; it answers 404 now."""
    import requests as http

    from chalicelib.local.standards import HelsenorgeReceiver, StandardsServer

    class NoS3:
        def get_object(self, **_: object) -> object:
            raise AssertionError("no file was named: S3 is not asked")

    server = StandardsServer("feed", HelsenorgeReceiver(), 0, s3=NoS3())
    server.start()
    try:
        answer = http.get(f"{server.url}/feed/", timeout=WAIT_SECONDS)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
        assert http.head(f"{server.url}/feed/", timeout=WAIT_SECONDS).status_code == 404
    finally:
        server.stop()
