"""Timebok's table and queues created at the stand-in (or in-process moto) from the CloudFormation
template: each resource's Properties translated to CreateTable / CreateQueue, idempotently.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.local.cloudformation import (
    DEAD_LETTER_QUEUE_RESOURCE,
    DEFAULT_TEMPLATE_PATH,
    QUEUE_RESOURCE,
    TABLE_RESOURCE,
    Context,
    load_resources,
    resolve,
    resource_properties,
)

__all__ = ["create_resources", "ensure_queue"]

# moto accepts any credentials; fixed dummies keep real ones from ever being sent to it.
_DUMMY_CREDENTIALS: dict[str, str] = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}

# create_resources fail, so a template change cannot be silently ignored locally.
_TABLE_PASSTHROUGH = frozenset(
    {
        "AttributeDefinitions",
        "KeySchema",
        "BillingMode",
        "ProvisionedThroughput",
        "OnDemandThroughput",
        "WarmThroughput",
        "LocalSecondaryIndexes",
        "TableClass",
        "DeletionProtectionEnabled",
        "Tags",
    }
)
# Handled separately after CreateTable, or meaningless for a local stand-in.
_TABLE_AFTER_CREATE = frozenset({"TimeToLiveSpecification"})
_TABLE_IGNORED = frozenset(
    {
        "TableName",  # the caller chooses the local name
        "PointInTimeRecoverySpecification",
        "ContributorInsightsSpecification",
        "KinesisStreamSpecification",
        "ResourcePolicy",
    }
)
# Keys of a GlobalSecondaryIndexes entry that exist only in CloudFormation.
_GSI_CFN_ONLY = frozenset({"ContributorInsightsSpecification"})


def _table_kwargs(table_name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """Translate AWS::DynamoDB::Table Properties into CreateTable kwargs."""
    kwargs: dict[str, Any] = {"TableName": table_name}
    for key, value in properties.items():
        if key in _TABLE_PASSTHROUGH:
            kwargs[key] = value
        elif key == "GlobalSecondaryIndexes":
            kwargs[key] = [{k: v for k, v in index.items() if k not in _GSI_CFN_ONLY} for index in value]
        elif key == "StreamSpecification":
            kwargs[key] = {"StreamEnabled": True, "StreamViewType": value["StreamViewType"]}
        elif key == "SSESpecification":
            sse = {"Enabled": value.get("SSEEnabled", False)}
            sse.update({k: v for k, v in value.items() if k in ("SSEType", "KMSMasterKeyId")})
            kwargs[key] = sse
        elif key in _TABLE_AFTER_CREATE or key in _TABLE_IGNORED:
            continue
        else:
            raise ValueError(
                f"AWS::DynamoDB::Table property {key!r} has no local translation; "
                "teach chalicelib/local/resources.py about it"
            )
    return kwargs


# SQS: CFN properties that are not queue attributes; all others are, by the same name.
_QUEUE_NON_ATTRIBUTES = frozenset({"QueueName", "Tags"})


def _queue_attributes(properties: Mapping[str, Any]) -> dict[str, str]:
    """Translate AWS::SQS::Queue Properties into CreateQueue attributes (all strings)."""
    attributes: dict[str, str] = {}
    for key, value in properties.items():
        if key in _QUEUE_NON_ATTRIBUTES:
            continue
        if key == "FifoQueue" and value is False:
            continue  # SQS rejects FifoQueue=false; standard queues simply omit it
        attributes[key] = _attribute_string(value)
    return attributes


def _attribute_string(value: Any) -> str:
    """SQS attribute values are strings; policies are JSON documents."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _ensure_table(client: Any, table_name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """Create the table (and its TTL) unless it exists; return its description."""
    try:
        client.create_table(**_table_kwargs(table_name, properties))
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceInUseException":
            raise
    else:
        client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    return client.describe_table(TableName=table_name)["Table"]


def ensure_queue(client: Any, queue_name: str, properties: Mapping[str, Any]) -> str:
    """Create the queue unless it exists (whatever its attributes); return its URL."""
    if properties.get("FifoQueue") and not queue_name.endswith(".fifo"):
        raise ValueError(f"FIFO queue name must end in '.fifo': {queue_name!r}")
    try:
        return client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except ClientError as err:
        if err.response["Error"]["Code"] not in (
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ):
            raise
    kwargs: dict[str, Any] = {"QueueName": queue_name, "Attributes": _queue_attributes(properties)}
    tags = properties.get("Tags")
    if tags:
        kwargs["tags"] = {tag["Key"]: str(tag["Value"]) for tag in tags}
    try:
        return client.create_queue(**kwargs)["QueueUrl"]
    except ClientError as err:  # created concurrently with different attributes
        if err.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        return client.get_queue_url(QueueName=queue_name)["QueueUrl"]


@functools.lru_cache(maxsize=4)
def _session(region: str) -> boto3.session.Session:
    """One session per region: it keeps botocore's loaded service models, which every new
    session reads from disk again (a tenth of a second per test world)."""
    return boto3.session.Session(region_name=region, **_DUMMY_CREDENTIALS)


def create_resources(
    endpoint_url: str | None,
    region: str,
    table_name: str,
    queue_name: str,
    dead_letter_queue_name: str,
    template_path: Path = DEFAULT_TEMPLATE_PATH,
) -> dict[str, str]:
    """Create Timebok's table and queues at `endpoint_url` from the CloudFormation template.

    `endpoint_url=None` means botocore's default endpoint, i.e. in-process `moto.mock_aws`
    in tests. Idempotent: existing resources are left as they are. Returns
    {"table_name", "queue_url", "dead_letter_queue_url"}.
    """
    for name in (queue_name, dead_letter_queue_name):
        if not name.endswith(".fifo"):
            raise ValueError(f"queue names must end in '.fifo': {name!r}")
    resources = load_resources(Path(template_path))
    session = _session(region)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)

    def account_id() -> str:
        sts = session.client("sts", endpoint_url=endpoint_url)
        return str(sts.get_caller_identity()["Account"])

    ctx = Context(region, account_id)

    table_props = resolve(resource_properties(resources, TABLE_RESOURCE, "AWS::DynamoDB::Table"), ctx)
    table = _ensure_table(dynamodb, table_name, table_props)
    ctx.resources[TABLE_RESOURCE] = {
        "Ref": table_name,
        "Arn": table["TableArn"],
        **({"StreamArn": table["LatestStreamArn"]} if "LatestStreamArn" in table else {}),
    }

    # The DLQ first: the main queue's RedrivePolicy refers to its ARN.
    queue_urls: dict[str, str] = {}
    for logical_id, name in (
        (DEAD_LETTER_QUEUE_RESOURCE, dead_letter_queue_name),
        (QUEUE_RESOURCE, queue_name),
    ):
        props = resolve(resource_properties(resources, logical_id, "AWS::SQS::Queue"), ctx)
        url = ensure_queue(sqs, name, props)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        ctx.resources[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        queue_urls[logical_id] = url

    return {
        "table_name": table_name,
        "queue_url": queue_urls[QUEUE_RESOURCE],
        "dead_letter_queue_url": queue_urls[DEAD_LETTER_QUEUE_RESOURCE],
    }
