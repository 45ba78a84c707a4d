"""`make run`'s stand-ins for the open standards: the feed's static host and Helsenorge.

One small HTTP server on 127.0.0.1 (FEED and Helsenorge; the port is printed at start):

* `GET /feed/{name}`: the feed files from the stand-in's S3 bucket, as CloudFront serves them in
  AWS: Cache-Control, ETag and Last-Modified from the object; `If-None-Match` (RFC 9110: `*`,
  lists, weak comparison) or else `If-Modified-Since` answered with 304; `%24bulk-publish` is
  `$bulk-publish`.
* `PUT /helsenorge/Appointment/{id}`: a Helsenorge «Timeavtaler» stand-in, a strict receiver. It
  validates every PUT (bearer token, parses as R4B `Appointment`, hn-basis-appointment's rules:
  meta.profile, the bound serviceCategory, a kommunikasjonspart in supportingInformation, R4's
  actor types, a contained Location with managingOrganization; and, where the published package is
  in ../shared/fhir/, every rule of its snapshot by tests/standards/profiles.py) and answers 422
  with an OperationOutcome naming the element
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
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

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
HN_BASIS_APPOINTMENT = "http://helsenorge.no/fhir/StructureDefinition/hn-basis-appointment"
# hn-appointment-ServiceCategory-code-vs (its codes, as the published package lists them)
SERVICE_CATEGORIES = {
    ("http://terminology.hl7.org/CodeSystem/service-category", code) for code in ("10", "27", "17", "7")
}
# R4 Appointment.participant.actor: Patient | Practitioner | PractitionerRole | RelatedPerson | Device |
# HealthcareService | Location (no Organization)
ACTOR_TYPES = {
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "RelatedPerson",
    "Device",
    "HealthcareService",
    "Location",
}


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
    if HN_BASIS_APPOINTMENT not in (meta.get("profile") or []):
        found.append(f"meta.profile: does not name {HN_BASIS_APPOINTMENT}")
    categories = [c for cc in resource.get("serviceCategory") or [] for c in cc.get("coding") or []]
    if len(resource.get("serviceCategory") or []) != 1 or not any(
        (c.get("system"), c.get("code")) in SERVICE_CATEGORIES for c in categories
    ):
        found.append("serviceCategory: exactly one, from hn-appointment-ServiceCategory-code-vs")
    contained = {f"#{r.get('id')}": r for r in resource.get("contained") or []}
    supporting = [contained.get(str(r.get("reference"))) for r in resource.get("supportingInformation") or []]
    if not any(r and r.get("resourceType") == "Organization" and _her_id(r) and r.get("partOf") for r in supporting):
        found.append("supportingInformation: no kommunikasjonspart Organization by HER-id with partOf")
    actors = [p.get("actor", {}) for p in resource.get("participant", [])]
    systems = {a.get("identifier", {}).get("system") for a in actors}
    if not systems & {FODSELSNUMMER, D_NUMMER}:
        found.append("participant: no patient by fødselsnummer or D-nummer")
    for actor in actors:
        kind = actor.get("type") or (contained.get(str(actor.get("reference"))) or {}).get("resourceType")
        if kind not in ACTOR_TYPES:
            found.append(f"participant.actor: type {kind!r} is not allowed (R4 Appointment.participant.actor)")
    places = [contained.get(str(a.get("reference"))) for a in actors]
    if not any(p and p.get("resourceType") == "Location" and p.get("managingOrganization") for p in places):
        found.append("participant: no contained Location with managingOrganization")
    if validate_profile is not None:
        found += validate_profile(resource)
    return found


def _her_id(organisation: Mapping[str, Any]) -> bool:
    return any(i.get("system") == HER_ID and i.get("value") for i in organisation.get("identifier") or [])


def _profile_validator() -> Callable[[dict[str, Any]], list[str]] | None:
    """The full validator of tests/standards/profiles.py against the published package in
    ../shared/fhir/, where both are there (a development checkout); else None."""
    try:
        from tests.standards import profiles
    except ImportError:
        return None
    return profiles.appointment_problems if profiles.package_dir() is not None else None


validate_profile = _profile_validator()


@dataclass
class HelsenorgeReceiver:
    """Keeps the newest version of each appointment; `received` logs every accepted PUT in order."""

    token: str = ""
    down: bool = False
    refuse_next: int = 0  # tests: answer the next PUTs 422, as Helsenorge refusing a resource would
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
        if self.refuse_next > 0:
            self.refuse_next -= 1
            found = found or ["meta: refused by the test"]
        if not found and resource["id"] != appointment_id:
            found = ["id: differs from the URL"]
        if found:
            with self._lock:
                self.refused.append(appointment_id)
            return 422, invalid(found)
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


def invalid(problems: list[str]) -> dict[str, Any]:
    """422's OperationOutcome: one issue per problem, `expression` naming the element ("serviceCategory: ...")."""
    issues = []
    for problem in problems:
        element = problem.split(":", 1)[0].strip()
        path = element if element.startswith("Appointment") else f"Appointment.{element}"
        issues.append({"severity": "error", "code": "invalid", "diagnostics": problem, "expression": [path]})
    return {"resourceType": "OperationOutcome", "issue": issues}


def _opaque(tag: str) -> str:
    """RFC 9110 weak comparison: the opaque tags compared, a `W/` prefix ignored."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(
    etag: str, modified: datetime | None, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """RFC 9110 13.1.2 and 13.1.3 for a GET: If-None-Match (`*`, a list, weak comparison) decides;
    If-Modified-Since only where there is no If-None-Match."""
    if if_none_match is not None:
        tags = [t for t in (part.strip() for part in if_none_match.split(",")) if t]
        return "*" in tags or _opaque(etag) in {_opaque(t) for t in tags}
    if if_modified_since and modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False  # an invalid date is ignored
        return modified.replace(microsecond=0) <= since
    return False


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
        key = unquote(path[len(FEED_PREFIX) :])  # `%24bulk-publish` is `$bulk-publish`
        if not key:  # `GET /feed/`: no file named (S3 refuses an empty key before asking)
            self._json(handler, 404, {"error": {"code": "not_found", "message": "Name a feed file."}})
            return
        try:
            found = self.s3.get_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError):
            self._json(handler, 404, {"error": {"code": "not_found", "message": "Not published yet."}})
            return
        modified = found.get("LastModified")
        headers = {
            "ETag": found["ETag"],
            "Cache-Control": found.get("CacheControl", "max-age=30"),
            "Content-Type": found.get("ContentType", "application/octet-stream"),
            **({"Last-Modified": format_datetime(modified.astimezone(UTC), usegmt=True)} if modified else {}),
        }
        if not_modified(
            found["ETag"], modified, handler.headers.get("If-None-Match"), handler.headers.get("If-Modified-Since")
        ):
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
