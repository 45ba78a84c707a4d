"""Local stand-in for the AWS services Timebok uses (DynamoDB, SQS), backed by moto.

Two pieces:

* `AtomicMotoServer`: moto's HTTP server, but processing one request at a time.
  moto's in-memory backends are not thread-safe (TransactWriteItems deep-copies the
  whole table for rollback while other threads write to it: "dictionary changed size
  during iteration", lost writes, non-atomic transactions). Serialising requests makes
  every API call atomic, which is what the booking logic relies on.
* `create_resources`: creates the table and queues from `infra/resources.yaml`, the
  same CloudFormation template that is deployed, so local and AWS cannot drift apart.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

__all__ = [
    "DEFAULT_TEMPLATE_PATH",
    "AtomicMotoServer",
    "SerializedWSGIApp",
    "Shedding",
    "create_resources",
]

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]

DEFAULT_TEMPLATE_PATH: Path = Path(__file__).resolve().parents[2] / "infra" / "resources.yaml"

# Logical IDs in infra/resources.yaml.
TABLE_RESOURCE = "TimebokTable"
QUEUE_RESOURCE = "EventsQueue"
DEAD_LETTER_QUEUE_RESOURCE = "EventsDeadLetterQueue"

# moto accepts any credentials; fixed dummies keep real ones from ever being sent to it.
_DUMMY_CREDENTIALS: dict[str, str] = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}

# moto keeps its backends in module-level globals, so two servers in one process share
# state; one process-wide lock keeps them from racing each other too.
_MOTO_LOCK = threading.Lock()


# --------------------------------------------------------------------------- server


class SerializedWSGIApp:
    """WSGI wrapper that lets exactly one request at a time run inside `app`.

    The lock covers both the call and the full consumption of the response iterable,
    because Flask/moto may still run code (and touch backend state) while the body is
    produced. The request body is read from the socket *before* taking the lock so a slow
    client cannot stall everybody else.

    With `shedding`, DynamoDB requests it cannot serve in time are refused the way DynamoDB
    refuses them under load, with a ThrottlingException (HTTP 400), instead of letting them
    wait until the client's read timeout: once `shedding.max_waiting` requests wait for the
    lock, a new one is refused at once, and one that waited `shedding.max_wait_seconds` is
    refused when its turn comes. Clients back off and retry (botocore does), and the app
    answers 429 with Retry-After when they give up: never a timeout that becomes a 503.
    """

    def __init__(self, app: WSGIApp, lock: threading.Lock | None = None, shedding: Shedding | None = None) -> None:
        self._app = app
        self._lock = lock if lock is not None else threading.Lock()
        self._shedding = shedding
        self._count_lock = threading.Lock()
        self._waiting = 0
        self.shed = 0  # DynamoDB requests refused so far (the bench reports it)

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> list[bytes]:
        _buffer_request_body(environ)
        sheddable = self._shedding is not None and _is_dynamodb(environ)
        if sheddable:
            assert self._shedding is not None
            with self._count_lock:
                if self._waiting >= self._shedding.max_waiting:
                    self.shed += 1
                    return _throttled(start_response)
                self._waiting += 1
        queued = time.monotonic()
        try:
            with self._lock:
                if sheddable:
                    with self._count_lock:
                        self._waiting -= 1
                    assert self._shedding is not None
                    if time.monotonic() - queued > self._shedding.max_wait_seconds:
                        with self._count_lock:
                            self.shed += 1
                        return _throttled(start_response)
                    sheddable = False
                result = self._app(environ, start_response)
                try:
                    body = b"".join(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        finally:
            if sheddable:  # left without reaching the lock (an exception)
                with self._count_lock:
                    self._waiting -= 1
        return [body]


@dataclass(frozen=True)
class Shedding:
    """How much the one-at-a-time stand-in lets queue up. The defaults keep a request's wait
    well under the app's DynamoDB read timeout (5 s, storage/models.py) even with botocore's
    retries: the stand-in serves some 30-60 requests/s, so 48 waiting is about a second."""

    max_waiting: int = 48
    max_wait_seconds: float = 2.0


def _is_dynamodb(environ: WSGIEnviron) -> bool:
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_")


def _throttled(start_response: StartResponse) -> list[bytes]:
    """DynamoDB's own answer to too much load (botocore retries it with backoff)."""
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            "message": "The local stand-in is at capacity (request shed).",
        }
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _buffer_request_body(environ: WSGIEnviron) -> None:
    """Replace wsgi.input by an in-memory copy, so reading it needs no network I/O."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    if environ.get("wsgi.input_terminated"):  # chunked: the stream ends by itself
        data = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return
        data = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))


def _connectable(host: str) -> str:
    """The address a client uses to reach a server bound to `host` (wildcards -> loopback)."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without the per-request access log line (errors still log)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Drop access logs: hundreds of lines per test run drown the useful output."""


class AtomicMotoServer:
    """moto server in a daemon thread that processes one request at a time.

    A drop-in for `moto.server.ThreadedMotoServer` when clients run concurrently
    (e.g. `chalice local` plus a worker, or a race test).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False, shedding: Shedding | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._verbose = verbose
        self._shedding = shedding
        self.app: SerializedWSGIApp | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """URL for boto3's `endpoint_url`, with the real port when started on port 0."""
        if self._server is None:
            raise RuntimeError("AtomicMotoServer is not started")
        host = _connectable(self._host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._server.server_port}"

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port=0)."""
        if self._server is None:
            raise RuntimeError("AtomicMotoServer is not started")
        return self._server.server_port

    def start(self) -> None:
        """Bind, serve in a daemon thread, and return once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("AtomicMotoServer is already started")
        moto_app = DomainDispatcherApplication(create_backend_app)
        app = SerializedWSGIApp(moto_app, _MOTO_LOCK, self._shedding)
        self.app = app
        handler = MotoRequestHandler if self._verbose else _QuietRequestHandler
        # Bind in the caller's thread so that "address in use" surfaces here.
        server = make_server(self._host, self._port, app, threaded=True, request_handler=handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"moto:{server.server_port}", daemon=True)
        self._thread.start()
        self._wait_until_accepting()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> AtomicMotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_accepting(self, timeout: float = 10.0) -> None:
        """Connect until the server answers, so callers never see a refused connection."""
        assert self._server is not None
        host = _connectable(self._host)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((host, self._server.server_port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


# ------------------------------------------------------------------------ resources


class _Context:
    """Values that CloudFormation intrinsics in the template can refer to."""

    def __init__(self, region: str, account_id: Callable[[], str]) -> None:
        self.region = region
        self._account_id = account_id
        # logical ID -> {"Ref": ..., attribute name: ...}
        self.resources: dict[str, dict[str, str]] = {}

    def pseudo(self, name: str) -> str:
        """Resolve an AWS:: pseudo parameter."""
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            return self._account_id()
        if name == "AWS::Partition":
            return "aws"
        if name == "AWS::URLSuffix":
            return "amazonaws.com"
        raise ValueError(f"unsupported pseudo parameter {name!r} in template")

    def ref(self, name: str) -> str:
        """Resolve {"Ref": name}."""
        if name.startswith("AWS::"):
            return self.pseudo(name)
        return self.get_att(name, "Ref")

    def get_att(self, logical_id: str, attribute: str) -> str:
        """Resolve {"Fn::GetAtt": [logical_id, attribute]} for a resource created earlier."""
        try:
            return self.resources[logical_id][attribute]
        except KeyError:
            raise ValueError(
                f"cannot resolve {logical_id}.{attribute}: not created (yet) by create_resources"
            ) from None


def _resolve(value: Any, ctx: _Context) -> Any:
    """Replace the CloudFormation intrinsics local needs (Ref, GetAtt, Sub, Join)."""
    if isinstance(value, list):
        return [_resolve(v, ctx) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return ctx.ref(arg)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return ctx.get_att(logical_id, attribute)
        if key == "Fn::Sub":
            return _sub(arg, ctx)
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(p) for p in _resolve(parts, ctx))
        if key.startswith("Fn::") or key == "Condition":
            raise ValueError(f"unsupported intrinsic {key!r} in template")
    return {k: _resolve(v, ctx) for k, v in value.items()}


def _sub(arg: str | list[Any], ctx: _Context) -> str:
    """Fn::Sub, string or [string, {var: value}] form."""
    template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], _resolve(arg[1], ctx))
    out: list[str] = []
    pos = 0
    while (start := template.find("${", pos)) != -1:
        end = template.index("}", start)
        out.append(template[pos:start])
        name = template[start + 2 : end]
        if name.startswith("!"):  # ${!Literal} -> ${Literal}
            out.append("${" + name[1:] + "}")
        elif name in variables:
            out.append(str(variables[name]))
        elif "." in name and not name.startswith("AWS::"):
            out.append(ctx.get_att(*name.split(".", 1)))
        else:
            out.append(ctx.ref(name))
        pos = end + 1
    out.append(template[pos:])
    return "".join(out)


def _load_resources(template_path: Path) -> dict[str, dict[str, Any]]:
    """Read the template's Resources section (plain YAML, long-form intrinsics); a deep copy of
    one parse per file, since every test's fresh moto world creates the resources again."""
    return copy.deepcopy(_parsed_resources(template_path, template_path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _parsed_resources(template_path: Path, _mtime_ns: int) -> dict[str, dict[str, Any]]:
    with template_path.open(encoding="utf-8") as fh:
        template = yaml.safe_load(fh)
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        raise ValueError(f"{template_path}: no Resources section")
    return resources


def _resource_properties(
    resources: Mapping[str, dict[str, Any]], logical_id: str, resource_type: str
) -> dict[str, Any]:
    """Properties of one resource, checking it exists with the expected type."""
    resource = resources.get(logical_id)
    if resource is None:
        raise ValueError(f"resource {logical_id!r} missing from template")
    if resource.get("Type") != resource_type:
        raise ValueError(f"resource {logical_id!r} is {resource.get('Type')!r}, not {resource_type}")
    return dict(resource.get("Properties") or {})


# DynamoDB: CFN property -> how it maps onto CreateTable. Anything not listed makes
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
                "teach chalicelib/local/standin.py about it"
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


def _ensure_queue(client: Any, queue_name: str, properties: Mapping[str, Any]) -> str:
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
    resources = _load_resources(Path(template_path))
    session = _session(region)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)

    def account_id() -> str:
        sts = session.client("sts", endpoint_url=endpoint_url)
        return str(sts.get_caller_identity()["Account"])

    ctx = _Context(region, account_id)

    table_props = _resolve(_resource_properties(resources, TABLE_RESOURCE, "AWS::DynamoDB::Table"), ctx)
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
        props = _resolve(_resource_properties(resources, logical_id, "AWS::SQS::Queue"), ctx)
        url = _ensure_queue(sqs, name, props)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        ctx.resources[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        queue_urls[logical_id] = url

    return {
        "table_name": table_name,
        "queue_url": queue_urls[QUEUE_RESOURCE],
        "dead_letter_queue_url": queue_urls[DEAD_LETTER_QUEUE_RESOURCE],
    }
