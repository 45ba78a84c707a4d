"""`make run`'s stand-ins for the open standards: the feed's static host and Helsenorge.

One small HTTP server on 127.0.0.1 (FEED and Helsenorge; the port is printed at start):

* `GET /feed/{name}`: the feed files from the stand-in's S3 bucket, as CloudFront serves them in
  AWS: Cache-Control and ETag from the object, `If-None-Match` answered with 304.
* `PUT /helsenorge/Appointment/{id}`: a Helsenorge «Timeavtaler» stand-in. It validates every PUT
  (bearer token, parses as R4B `Appointment`, the elements of hn-basis-appointment we promise)
  and keeps the newest version of each appointment; an older version is accepted and ignored, as
  a receiver that knows versions would. `GET /helsenorge/Appointment` lists what it keeps
  (the API's local-only `GET /dev/helsenorge/appointments` answers the same).

Also the local event source for the Helsenorge queue (as Lambda's, with receive counts).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.local.cloudformation import (
    DEFAULT_TEMPLATE_PATH,
    Context,
    load_resources,
    resolve,
    resource_properties,
)
from chalicelib.local.resources import ensure_queue

logger = logging.getLogger("timebok.local.standards")

FEED_PREFIX = "/feed/"
HELSENORGE_PREFIX = "/helsenorge"
_APPOINTMENT_PATH = re.compile(r"^/helsenorge/Appointment/(?P<id>[A-Za-z0-9.-]{1,64})$")
FODSELSNUMMER, D_NUMMER, HER_ID = (
    "urn:oid:2.16.578.1.12.4.1.4.1",
    "urn:oid:2.16.578.1.12.4.1.4.2",
    "urn:oid:2.16.578.1.12.4.1.2",
)


def create_standards_resources(
    endpoint_url: str | None, region: str, prefix: str, template_path: Path = DEFAULT_TEMPLATE_PATH
) -> dict[str, str]:
    """The Helsenorge queues (from infra/resources.yaml) and a feed bucket; idempotent."""
    session = boto3.session.Session(region_name=region, aws_access_key_id="local", aws_secret_access_key="local")
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    resources = load_resources(template_path)
    ctx = Context(
        region, lambda: str(session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Account"])
    )
    urls: dict[str, str] = {}
    for logical_id, name in (
        ("HelsenorgeDeadLetterQueue", f"{prefix}-helsenorge-dlq.fifo"),
        ("HelsenorgeQueue", f"{prefix}-helsenorge.fifo"),
    ):
        url = ensure_queue(sqs, name, resolve(resource_properties(resources, logical_id, "AWS::SQS::Queue"), ctx))
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        ctx.resources[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name}
        urls[logical_id] = url
    bucket = f"{prefix}-feed"
    try:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    return {
        "helsenorge_queue_url": urls["HelsenorgeQueue"],
        "helsenorge_dead_letter_queue_url": urls["HelsenorgeDeadLetterQueue"],
        "feed_bucket": bucket,
    }


# ---- the Helsenorge stand-in ---------------------------------------------------------------------


def problems_of(resource: Any) -> list[str]:
    """What a PUT body lacks of what we promise (fhir.resources checks types, not these)."""
    from fhir.resources.R4B.appointment import Appointment  # dev dependency: never in Lambda

    if not isinstance(resource, dict) or resource.get("resourceType") != "Appointment":
        return ["not an Appointment"]
    try:
        Appointment.model_validate(resource)
    except Exception as error:  # pydantic's ValidationError, or fhir-core's own
        return [f"not R4B: {str(error).splitlines()[0]}"]
    found: list[str] = []
    identifiers = resource.get("identifier") or []
    if len(identifiers) != 1 or not all(identifiers[0].get(k) for k in ("system", "value", "assigner")):
        found.append("identifier: exactly one, with system, value and assigner")
    meta = resource.get("meta") or {}
    if not meta.get("lastUpdated") or not str(meta.get("versionId", "")).isdigit():
        found.append("meta: lastUpdated and a numeric versionId")
    if resource.get("status") not in ("proposed", "pending", "booked", "cancelled"):
        found.append(f"status: {resource.get('status')!r}")
    if resource.get("status") == "cancelled" and not resource.get("cancelationReason"):
        found.append("cancelationReason: required when cancelled")
    for name in ("start", "end", "serviceCategory", "appointmentType"):
        if not resource.get(name):
            found.append(f"{name}: missing")
    actors = [p.get("actor", {}) for p in resource.get("participant", [])]
    systems = {a.get("identifier", {}).get("system") for a in actors}
    if not systems & {FODSELSNUMMER, D_NUMMER}:
        found.append("participant: no patient by fødselsnummer or D-nummer")
    if HER_ID not in systems:
        found.append("participant: no health contact by HER-id")
    if not any(str(a.get("reference", "")).startswith("Location/") for a in actors):
        found.append("participant: no location")
    return found


@dataclass
class HelsenorgeReceiver:
    """Keeps the newest version of each appointment; `received` logs every accepted PUT in order."""

    token: str = ""
    down: bool = False
    newest: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[tuple[str, int, str]] = field(default_factory=list)  # (id, version, status)
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, appointment_id: str, body: bytes, authorization: str) -> tuple[int, dict[str, Any]]:
        if self.down:
            return 503, outcome("transient", "the stand-in is down")
        if not authorization.startswith("Bearer ") or (self.token and authorization[7:] != self.token):
            return 401, outcome("login", "no or wrong bearer token")
        try:
            resource = json.loads(body)
        except ValueError:
            resource = None
        found = problems_of(resource)
        if not found and resource["id"] != appointment_id:
            found = ["id: differs from the URL"]
        if found:
            with self._lock:
                self.refused.append(appointment_id)
            return 422, outcome("invalid", "; ".join(found))
        version = int(resource["meta"]["versionId"])
        with self._lock:
            self.received.append((appointment_id, version, resource["status"]))
            kept = self.newest.get(appointment_id)
            if kept is None or int(kept["meta"]["versionId"]) <= version:
                self.newest[appointment_id] = resource
        return 200, resource

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.newest[k] for k in sorted(self.newest)]


def outcome(code: str, text: str) -> dict[str, Any]:
    """A FHIR OperationOutcome, as a FHIR server answers an error."""
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


# ---- the server ------------------------------------------------------------------------------------


class StandardsServer:
    """Serves the feed bucket and the Helsenorge stand-in on 127.0.0.1:`port` (0: any free port)."""

    def __init__(self, bucket: str, receiver: HelsenorgeReceiver, port: int = 0, s3: Any = None) -> None:
        self.bucket, self.receiver = bucket, receiver
        self._s3 = s3
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: a PUT's URL names an appointment, nothing more, but keep the console calm

            def do_GET(self) -> None:
                server._get(self)

            def do_HEAD(self) -> None:
                server._get(self)  # _send leaves the body out of a HEAD answer

            def do_PUT(self) -> None:
                server._put(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="standards", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def feed_url(self) -> str:
        return f"{self.url}{FEED_PREFIX.rstrip('/')}"

    @property
    def helsenorge_url(self) -> str:
        return f"{self.url}{HELSENORGE_PREFIX}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = boto3.session.Session().client("s3")
        return self._s3

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Access-Control-Allow-Origin", "*")  # public data, as the CloudFront policy says
        handler.end_headers()
        if body and handler.command != "HEAD":
            handler.wfile.write(body)

    def _json(self, handler: BaseHTTPRequestHandler, status: int, value: Any, kind: str = "application/json") -> None:
        self._send(handler, status, json.dumps(value, ensure_ascii=False).encode(), {"Content-Type": kind})

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        if path.rstrip("/") == f"{HELSENORGE_PREFIX}/Appointment":
            self._json(handler, 200, {"items": self.receiver.items()})
            return
        if not path.startswith(FEED_PREFIX):
            self._json(handler, 404, {"error": {"code": "not_found", "message": "No such resource."}})
            return
        key = path[len(FEED_PREFIX) :]
        if not key:  # `GET /feed/`: no file named (S3 refuses an empty key before asking)
            self._json(handler, 404, {"error": {"code": "not_found", "message": "Name a feed file."}})
            return
        try:
            found = self.s3.get_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError):
            self._json(handler, 404, {"error": {"code": "not_found", "message": "Not published yet."}})
            return
        headers = {
            "ETag": found["ETag"],
            "Cache-Control": found.get("CacheControl", "max-age=30"),
            "Content-Type": found.get("ContentType", "application/octet-stream"),
        }
        if found["ETag"] in [t.strip() for t in handler.headers.get("If-None-Match", "").split(",")]:
            self._send(handler, 304, b"", {k: v for k, v in headers.items() if k != "Content-Type"})
            return
        self._send(handler, 200, found["Body"].read(), headers)

    def _put(self, handler: BaseHTTPRequestHandler) -> None:
        match = _APPOINTMENT_PATH.match(handler.path.split("?", 1)[0])
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, 1_000_000))
        if not match:
            self._json(handler, 404, outcome("not-found", "PUT /helsenorge/Appointment/{id}"))
            return
        status, answer = self.receiver.put(match["id"], body, handler.headers.get("Authorization", ""))
        self._json(handler, status, answer, "application/fhir+json")


# ---- the local event source for the Helsenorge queue -----------------------------------------------


def lambda_sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1")},
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
    }


def drain(queue_url: str, handler: Callable[[dict[str, Any]], Mapping[str, Any]], max_rounds: int = 10) -> int:
    """Receive, call the handler as Lambda would, delete what succeeded; returns messages handled."""
    from chalicelib.messaging.publisher import sqs_client

    sqs, handled = sqs_client(), 0
    for _ in range(max_rounds):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", [])
        if not messages:
            break
        answer = handler(lambda_sqs_event(messages))
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        handled += len(messages)
        if failed:
            break  # the failed ones wait out their backoff
    return handled


LOCAL_TOKEN = "local-helsenorge-token"  # the stand-in's bearer token (HELSENORGE_TOKEN_PROVIDER=static)


def start_local(endpoint_url: str, region: str, prefix: str, port: int = 0) -> StandardsServer:
    """For `make run`: the queues and bucket, the server, and the environment that points at them.

    PORTAL_URL defaults to the portal's local origin (API port + 1, see API.md) for the deep links.
    """
    import os

    made = create_standards_resources(endpoint_url, region, prefix)
    receiver = HelsenorgeReceiver(token=LOCAL_TOKEN)
    s3 = boto3.session.Session(region_name=region).client("s3", endpoint_url=endpoint_url)
    try:
        server = StandardsServer(made["feed_bucket"], receiver, port, s3=s3)
    except OSError:  # the port is taken: any free one (the URLs below follow)
        server = StandardsServer(made["feed_bucket"], receiver, 0, s3=s3)
    server.start()
    os.environ.update(
        {
            "FEED_BUCKET": made["feed_bucket"],
            "FEED_BASE_URL": server.feed_url,
            "HELSENORGE_QUEUE_URL": made["helsenorge_queue_url"],
            "HELSENORGE_DEAD_LETTER_QUEUE_URL": made["helsenorge_dead_letter_queue_url"],
            "HELSENORGE_APPOINTMENT_URL": server.helsenorge_url,
            "HELSENORGE_TOKEN_PROVIDER": "static",
            "HELSENORGE_STATIC_TOKEN": LOCAL_TOKEN,
        }
    )
    os.environ.setdefault("HELSENORGE_RETRY_BASE_SECONDS", "2")
    return server
