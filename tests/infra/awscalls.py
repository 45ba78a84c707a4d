"""Which AWS actions the code needs, found two ways, and whether an IAM policy grants them.

* `Recorder` sees every call botocore makes (PynamoDB's and boto3's alike) while a Lambda
  handler runs, and `needs` turns each into the IAM actions AWS checks for it: a
  TransactWriteItems is checked as a PutItem/UpdateItem/DeleteItem/ConditionCheckItem per
  item, on the item's table and with its partition key (for `dynamodb:LeadingKeys`).
* `static_operations` reads the code for calls that reach AWS, so a call no scenario runs is
  noticed rather than silently unchecked.
* `allows` evaluates a policy the way IAM does for what we use: Allow/Deny, wildcards in
  actions and resources, and `ForAllValues:StringLike` on `dynamodb:LeadingKeys`. Anything
  else in a policy makes it fail loudly instead of guessing.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import fnmatch
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.client
from botocore import xform_name
from botocore.session import get_session

ROOT = Path(__file__).resolve().parents[2]
HASH_KEY = "pk"  # the table's partition key (infra/resources.yaml)


@dataclass(frozen=True)
class Need:
    """One IAM check AWS makes: an action on a resource, with the item's partition key if any."""

    action: str
    resource: str
    leading_key: str | None = None


# ---- recording ----------------------------------------------------------------------------------

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("timebok_function", default=None)


class Recorder:
    """Every botocore call, by the Lambda function that was running (None: test set-up)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self._original = botocore.client.BaseClient._make_api_call

    def install(self, monkeypatch: Any) -> None:
        recorder, original = self, self._original

        def recording(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            function = _current.get()
            if function is not None:
                service = client.meta.service_model.service_name
                recorder.calls[function].append((service, operation_name, api_params))
            return original(client, operation_name, api_params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    @contextlib.contextmanager
    def running(self, function: str) -> Iterator[None]:
        """Attribute the calls made inside to `function` (a logical id of the template)."""
        token = _current.set(function)
        try:
            yield
        finally:
            _current.reset(token)

    def operations(self, function: str) -> set[tuple[str, str]]:
        return {(service, operation) for service, operation, _ in self.calls.get(function, [])}


# ---- from calls to IAM checks --------------------------------------------------------------------


def _table_arn(region: str, account: str, table: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}"


def queue_arn(queue_url: str) -> str:
    """arn:aws:sqs:region:account:name from https://sqs.region.amazonaws.com/account/name."""
    host, account, name = queue_url.split("/")[-3:]
    region = host.split(".")[1]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def _key_of(params: Mapping[str, Any]) -> str | None:
    item = params.get("Key") or params.get("Item") or {}
    value = item.get(HASH_KEY, {})
    return value.get("S") if isinstance(value, dict) else None


def _queried_key(params: Mapping[str, Any]) -> str | None:
    """The partition key value of a Query's `pk = :v` condition (PynamoDB names it `#n`)."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for clause in str(params.get("KeyConditionExpression", "")).replace("(", " ").replace(")", " ").split(" AND "):
        left, _, right = (part.strip() for part in clause.partition("="))
        if names.get(left, left) == HASH_KEY and right in values:
            value = values[right]
            return value.get("S") if isinstance(value, dict) else None
    return None


_TRANSACT_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_ITEM_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}


def needs(service: str, operation: str, params: Mapping[str, Any], region: str, account: str) -> list[Need]:
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            found = []
            for part in params["TransactItems"]:
                ((kind, body),) = part.items()
                arn = _table_arn(region, account, body["TableName"])
                found.append(Need(f"dynamodb:{_TRANSACT_PARTS[kind]}", arn, _key_of(body)))
            return found
        if operation == "TransactGetItems":
            return [
                Need("dynamodb:GetItem", _table_arn(region, account, p["Get"]["TableName"]), _key_of(p["Get"]))
                for p in params["TransactItems"]
            ]
        if "TableName" in params:
            arn = _table_arn(region, account, params["TableName"])
            if params.get("IndexName"):
                arn += f"/index/{params['IndexName']}"
            if operation in _ITEM_OPERATIONS:
                key = _key_of(params)
            elif operation == "Query" and not params.get("IndexName"):
                key = _queried_key(params)  # IAM's LeadingKeys: a table Query's partition key
            else:
                key = None
            return [Need(f"dynamodb:{operation}", arn, key)]
        if operation == "BatchGetItem":  # IAM checks LeadingKeys against every key asked for
            return [
                Need(f"dynamodb:{operation}", _table_arn(region, account, t), _key_of({"Key": k}))
                for t, asked in params["RequestItems"].items()
                for k in asked.get("Keys", [])
            ]
        if "RequestItems" in params:  # BatchWriteItem: IAM checks LeadingKeys against every item written
            return [
                Need(f"dynamodb:{operation}", _table_arn(region, account, t), _key_of({"Key": key}))
                for t, writes in params["RequestItems"].items()
                for write in writes
                for key in [write.get("PutRequest", {}).get("Item") or write.get("DeleteRequest", {}).get("Key")]
            ]
    if service == "s3" and "Bucket" in params:
        return [Need(f"s3:{operation}", f"arn:aws:s3:::{params['Bucket']}/{params.get('Key', '')}")]
    if service == "sqs" and "QueueUrl" in params:
        return [Need(f"sqs:{operation}", queue_arn(params["QueueUrl"]))]
    if service == "secretsmanager" and "SecretId" in params:  # the code names a secret by its ARN
        return [Need(f"secretsmanager:{operation}", params["SecretId"])]
    if service == "ssm" and "Name" in params:  # a parameter's ARN: its name begins with "/"
        return [Need(f"ssm:{operation}", f"arn:aws:ssm:{region}:{account}:parameter{params['Name']}")]
    return [Need(f"{service}:{operation}", "*")]


# ---- what the code can call --------------------------------------------------------------------

# PynamoDB's methods and the DynamoDB operations behind them.
PYNAMODB_OPERATIONS = {
    "get": "GetItem",
    "refresh": "GetItem",
    "save": "PutItem",
    "update": "UpdateItem",
    "delete": "DeleteItem",
    "query": "Query",
    "count": "Query",
    "scan": "Scan",
    "batch_get": "BatchGetItem",
    "batch_write": "BatchWriteItem",
    "exists": "DescribeTable",
    "describe_table": "DescribeTable",
    "TransactWrite": "TransactWriteItems",
    "TransactGet": "TransactGetItems",
}
# Code that runs only locally (the stand-in, the local runner and consumer).
LOCAL_ONLY = ("chalicelib/local/", "chalicelib/messaging/local_consumer.py")


def _boto_methods(service: str) -> dict[str, str]:
    model = get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


def static_operations(root: Path = ROOT) -> set[tuple[str, str]]:
    """(service, operation) of every call in chalicelib/ (outside LOCAL_ONLY) that reaches AWS:
    PynamoDB calls in chalicelib/storage/ (the only module that talks to DynamoDB), and boto3
    client calls named like an SQS, DynamoDB, S3 or Secrets Manager operation anywhere."""
    boto = {
        "sqs": _boto_methods("sqs"),
        "dynamodb": _boto_methods("dynamodb"),
        "s3": _boto_methods("s3"),
        "secretsmanager": _boto_methods("secretsmanager"),
    }
    boto_names = {name for methods in boto.values() for name in methods}
    found: set[tuple[str, str]] = set()
    for path in sorted((root / "chalicelib").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(LOCAL_ONLY):
            continue
        in_storage = relative.startswith("chalicelib/storage/")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name is None:
                continue
            if in_storage and name in PYNAMODB_OPERATIONS:
                if name == "exists" and not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
                    continue  # Model.pk.exists() is a condition, Model.exists() a DescribeTable
                found.add(("dynamodb", PYNAMODB_OPERATIONS[name]))
            elif isinstance(func, ast.Attribute) and name in boto_names and name not in PYNAMODB_OPERATIONS:
                for service, methods in boto.items():
                    if name in methods:
                        found.add((service, methods[name]))
    return found


# ---- IAM evaluation ---------------------------------------------------------------------------


class UnsupportedPolicy(Exception):
    """The policy uses something `allows` does not evaluate; teach it rather than guess."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: Mapping[str, Any] | None, need: Need) -> bool:
    if not condition:
        return True
    for operator, tests in condition.items():
        for key, patterns in tests.items():
            if (operator, key) != ("ForAllValues:StringLike", "dynamodb:LeadingKeys"):
                raise UnsupportedPolicy(f"condition {operator} {key}")
            if need.leading_key is None:  # IAM: no key in the request, no match for our purposes
                return False
            if not any(fnmatch.fnmatchcase(need.leading_key, p) for p in _as_list(patterns)):
                return False
    return True


def _matches(statement: Mapping[str, Any], need: Need) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        raise UnsupportedPolicy("NotAction/NotResource")
    actions = [a.lower() for a in _as_list(statement["Action"])]
    if not any(fnmatch.fnmatchcase(need.action.lower(), a) for a in actions):
        return False
    if not any(fnmatch.fnmatchcase(need.resource, r) for r in _as_list(statement["Resource"])):
        return False
    return _condition_holds(statement.get("Condition"), need)


def allows(policy: Mapping[str, Any], need: Need) -> bool:
    statements = _as_list(policy["Statement"])
    if any(s["Effect"] == "Deny" and _matches(s, need) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, need) for s in statements)


def grants(policy: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(statement Sid, action, resource) of every Allow, one per action and resource."""
    return [
        (s.get("Sid", "?"), action, resource)
        for s in _as_list(policy["Statement"])
        if s["Effect"] == "Allow"
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    ]
