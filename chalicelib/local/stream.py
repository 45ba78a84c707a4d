"""Locally, what Lambda's DynamoDB stream event source does in AWS: read the table's stream in
order, hand batches of records to the relay's handler, and on a reported failure read again
from the failed record (ReportBatchItemFailures).

It reads through boto3's `dynamodbstreams` client, so it works against the local stand-in
(AWS_ENDPOINT_URL, `make run`: the runner polls every 0.4 s) and against moto in the tests
(`drain_stream`, the tests' shared helper). Only records whose new image carries an event reach
the handler, as the deployed FilterCriteria let through (infra/stack.yaml).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib import settings

logger = logging.getLogger("timebok.local.stream")

Handler = Callable[[dict[str, Any]], Mapping[str, Any]]

BATCH_SIZE = 100  # as the deployed event source mapping


@dataclass
class DrainResult:
    records: int = 0  # stream records read
    handed: int = 0  # records that carried an event, handed to the handler
    failed: int = 0  # batches the handler failed (read again next time)


def carries_event(record: Mapping[str, Any]) -> bool:
    """The deployed filter: an INSERT or MODIFY whose new image has `ev.k`."""
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    return record.get("eventName") in ("INSERT", "MODIFY") and "k" in (image.get("ev") or {}).get("M", {})


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A record as Lambda hands it over (epoch seconds, the stream's ARN)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


@dataclass
class StreamReader:
    """The table's stream from where this reader left off (per shard: the iterator to go on
    with, or the sequence number to read again from)."""

    table_name: str
    batch_size: int = BATCH_SIZE
    wanted: Callable[[Mapping[str, Any]], bool] = carries_event  # the deployed mapping's filter
    _clients: tuple[Any, Any] | None = None
    _stream_arn: str | None = None
    _iterators: dict[str, str] = field(default_factory=dict)
    _again_from: dict[str, str] = field(default_factory=dict)

    def _client(self) -> tuple[Any, Any]:
        if self._clients is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session()
            region = settings.get().region
            # The stand-ins know the regional endpoints, not the account-based ones botocore prefers.
            config = Config(account_id_endpoint_mode="disabled")
            self._clients = (
                session.client("dynamodb", region_name=region, config=config),
                session.client("dynamodbstreams", region_name=region, config=config),
            )
        return self._clients

    def _shards(self) -> list[str]:
        dynamodb, streams = self._client()
        if self._stream_arn is None:
            self._stream_arn = dynamodb.describe_table(TableName=self.table_name)["Table"]["LatestStreamArn"]
        description = streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description["Shards"]]

    def _iterator(self, shard: str) -> str:
        _, streams = self._client()
        if shard in self._again_from:
            return str(
                streams.get_shard_iterator(
                    StreamArn=self._stream_arn,
                    ShardId=shard,
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    SequenceNumber=self._again_from.pop(shard),
                )["ShardIterator"]
            )
        if shard not in self._iterators:
            self._iterators[shard] = streams.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        return self._iterators[shard]

    def drain(self, handler: Handler, max_rounds: int = 100) -> DrainResult:
        """Hand every record written since the last call to `handler`, batch by batch; stop at a
        failed batch (it is read again, from the failed record, next time)."""
        result = DrainResult()
        _, streams = self._client()
        shards = list(self._iterators) if self._iterators and not self._again_from else self._shards()
        for shard in shards:
            for _ in range(max_rounds):
                iterator = self._iterator(shard)
                answer = streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
                records = answer.get("Records", [])
                result.records += len(records)
                wanted = [lambda_record(r, str(self._stream_arn)) for r in records if self.wanted(r)]
                if wanted:
                    result.handed += len(wanted)
                    if not self._handled(handler, wanted, shard):
                        result.failed += 1
                        self._iterators.pop(shard, None)
                        break
                self._iterators[shard] = answer["NextShardIterator"]
                if not records:
                    break
        return result

    def _handled(self, handler: Handler, records: list[dict[str, Any]], shard: str) -> bool:
        try:
            answer = handler({"Records": records})
        except Exception as error:  # the function failed as a whole: Lambda retries the batch
            logger.error("local stream: handler failed (%s); the batch is read again", type(error).__name__)
            self._again_from[shard] = records[0]["dynamodb"]["SequenceNumber"]
            return False
        failures = [str(f["itemIdentifier"]) for f in (answer or {}).get("batchItemFailures") or []]
        if not failures:
            return True
        self._again_from[shard] = min(failures, key=int)
        return False


_default: StreamReader | None = None


def drain_stream(handler: Handler | None = None, max_rounds: int = 100) -> DrainResult:
    """Relay what the table's stream holds since the last call (tests, the local runner): through
    `handler` (Lambda's event in, `batchItemFailures` out), by default the relay itself."""
    global _default
    table = settings.get().table_name
    if _default is None or _default.table_name != table:
        _default = StreamReader(table)
    if handler is None:
        from chalicelib.messaging import relay

        handler = lambda event: relay.handle_records(event["Records"])  # noqa: E731
    return _default.drain(handler, max_rounds)


def reset() -> None:
    """Forget positions and clients, e.g. a new table or stand-in (settings.reset() calls this)."""
    global _default
    _default = None


settings.on_reset(reset)
