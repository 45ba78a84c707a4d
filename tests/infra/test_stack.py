"""The packaged template's resources, created in moto's CloudFormation, running the handlers.

The stack is the packaged template without what moto cannot make (the SAM functions and API,
their permissions, the alarms, and what refers to them): the table, the queues, the log groups,
the alarm topic and every function's IAM role with its policy, resolved by CloudFormation.
The handlers then run against what the stack made, with its names read from the stack: set-up,
discovery, hold, booking, confirmation through the gateway; the SQS consumer on messages read
from the stack's queue; the relay on the table's stream records; the hold sweep and the
reminders as their schedules call them; the authorizer as API Gateway calls it. Every AWS call
is recorded by function and must be granted by that function's role, and every grant must be
used by some call.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import clock, settings
from tests.conftest import REGION, Citizen, token_for
from tests.factories import make_pid
from tests.helpers import first_free_slot, free_slots
from tests.infra import awscalls
from tests.infra.awscalls import Need, Recorder
from tests.infra.conftest import ROOT

PARAMETERS = {
    "TokenIssuer": "https://idp.example.no",
    "TokenAudience": "timebok",
    "TokenJwksUrl": "https://idp.example.no/.well-known/jwks.json",
    "TableDeletionProtection": "disabled",
}
SMS_KEY_PARAMETER = "/timebok/maskinporten-key"  # the stack's default MaskinportenKeyParameter
# The scenario's citizens in KRR: Elise (61) with her mobile, Jon (62) reserved; the rest unknown.
KRR_PEOPLE = {
    make_pid(61): {
        "reservasjon": "NEI",
        "status": "AKTIV",
        "kontaktinformasjon": {"mobiltelefonnummer": "+4790000061"},
    },
    make_pid(62): {"reservasjon": "JA", "status": "AKTIV", "kontaktinformasjon": {"mobiltelefonnummer": "+4790000062"}},
}
# moto's CloudFormation cannot make these (CloudFront parts and bucket policies: tests/infra/test_portal.py,
# tests/infra/test_standards_template.py)
NOT_IN_MOTO = (
    "AWS::CloudWatch::Alarm",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::ResponseHeadersPolicy",
    "AWS::S3::BucketPolicy",
)
STATIC_OPERATIONS = awscalls.static_operations()
# The one wildcard allowed: the public views' availability documents, one per timebook and month
# (issue 20), public data under their own prefix of the feed bucket.
OBJECT_PREFIXES = ({"Fn::Sub": "${FeedBucket.Arn}/availability/*"},)
HER_ID = "8100077"
# The actions a Lambda SQS event source mapping performs with the function's role.
EVENT_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# What a DynamoDB stream event source mapping does with it: read the stream, report what it gave up on.
STREAM_SOURCE_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)


# ---- the stack --------------------------------------------------------------------------------


def _referenced(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _referenced(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!][^}]*)\}", text)} - set(variables)
                found |= _referenced(variables)
            else:
                found |= _referenced(arg)
    return found


def secrets_as_parameters(part: dict[str, Any]) -> dict[str, str]:
    """moto's CloudFormation cannot make a Secrets Manager secret: each is made here as its
    GenerateSecretString says and comes in as a parameter of its logical id, so a Ref to it is
    its ARN, as in AWS. The ARN of each, by logical id."""
    client = boto3.client("secretsmanager", region_name=REGION)
    arns = {}
    for logical_id, resource in list(part["Resources"].items()):
        if resource["Type"] != "AWS::SecretsManager::Secret":
            continue
        spec = resource["Properties"]["GenerateSecretString"]
        value = client.get_random_password(
            PasswordLength=spec["PasswordLength"], ExcludePunctuation=spec.get("ExcludePunctuation", False)
        )["RandomPassword"]
        arns[logical_id] = client.create_secret(Name=f"timebok-test-{logical_id}", SecretString=value)["ARN"]
        del part["Resources"][logical_id]
        part["Parameters"][logical_id] = {"Type": "String"}
    return arns


def infra_part(template: dict[str, Any]) -> dict[str, Any]:
    """The template without the resources moto cannot make and whatever refers to them."""
    resources = template["Resources"]
    left_out = {
        k
        for k, v in resources.items()
        if v["Type"].startswith("AWS::Serverless::") or v["Type"] in ("AWS::Lambda::Permission", *NOT_IN_MOTO)
    }
    while True:
        more = {k for k, v in resources.items() if k not in left_out and _referenced(v) & left_out}
        if not more:
            break
        left_out |= more
    part = {k: v for k, v in template.items() if k not in ("Transform", "Resources", "Outputs")}
    part["Resources"] = {k: v for k, v in resources.items() if k not in left_out}
    part["Outputs"] = {k: v for k, v in template["Outputs"].items() if not _referenced(v) & left_out}
    return part


def _policy_document(raw: Any) -> dict[str, Any]:
    """moto returns a role policy made by CloudFormation as JSON, or as the repr of a dict."""
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return ast.literal_eval(raw)


@dataclass
class Scenario:
    template: dict[str, Any]
    outputs: dict[str, str]
    physical: dict[str, str]  # logical id -> physical id
    account: str
    recorder: Recorder
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # function -> resolved policy
    inbox: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # citizen name -> messages
    results: dict[str, Any] = field(default_factory=dict)

    def needs_of(self, function: str) -> list[Need]:
        found = [
            need
            for service, operation, params in self.recorder.calls.get(function, [])
            for need in awscalls.needs(service, operation, params, REGION, self.account)
        ]
        for event in self.template["Resources"][function]["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":  # Lambda polls the queue with the function's role
                logical_id = event["Properties"]["Queue"]["Fn::Sub"][2:].split(".")[0]  # "${X.Arn}"
                queue = awscalls.queue_arn(self.physical[logical_id])
                found += [Need(action, queue) for action in EVENT_SOURCE_ACTIONS]
        for mapping in self.template["Resources"].values():
            source = mapping.get("Properties", {})
            if mapping["Type"] == "AWS::Lambda::EventSourceMapping" and source["FunctionName"] == {"Ref": function}:
                table = source["EventSourceArn"]["Fn::GetAtt"][0]  # the table's StreamArn
                stream = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=self.physical[table])[
                    "Table"
                ]["LatestStreamArn"]
                found += [Need(action, stream) for action in STREAM_SOURCE_ACTIONS]
                failures = source["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
                found.append(Need("sqs:SendMessage", awscalls.queue_arn(self.physical[failures])))
        return found


# ---- running the handlers as Lambda would ---------------------------------------------------------


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def schedule_event(account: str, rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{account}:rule/{rule}"],
        "detail": {},
    }


def deliver_queued(
    scenario: Scenario,
    lambdas: Any,
    function: str = "DeliverToInbox",
    output: str = "EventsQueueUrl",
    rounds: int = 100,
) -> list[dict[str, Any]]:
    """What Lambda's event source mapping does: receive batches, invoke, delete the successes."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = scenario.outputs[output]
    handler = lambdas.deliver_to_inbox if function == "DeliverToInbox" else lambdas.send_to_helsenorge
    answers = []
    for _ in range(rounds):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return answers
        with scenario.recorder.running(function):
            answer = handler(sqs_event(messages, awscalls.queue_arn(url)), None)
        answers.append(answer)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return answers


def relay_stream(scenario: Scenario, lambdas: Any) -> Any:
    """What Lambda's stream event source mapping does: the table's stream since the last run, only
    records that carry an event (its filter), to RelayEvents, retried from a failed record."""
    from chalicelib.local.stream import StreamReader

    reader = scenario.results.setdefault("stream_reader", StreamReader(scenario.outputs["TableName"]))

    def invoke(event: dict[str, Any]) -> Any:
        with scenario.recorder.running("RelayEvents"):
            return lambdas.relay_events(event, None)

    return reader.drain(invoke)


def publish_availability(scenario: Scenario, lambdas: Any) -> Any:
    """What the publisher's stream event source mapping does: slot records (its filter), to
    PublishAvailability."""
    from chalicelib.booking.availability_docs import is_slot_change
    from chalicelib.local.stream import StreamReader

    reader = scenario.results.setdefault(
        "slot_reader", StreamReader(scenario.outputs["TableName"], wanted=is_slot_change)
    )

    def invoke(event: dict[str, Any]) -> Any:
        from chalicelib.booking import closed_ranges

        closed_ranges.forget()  # its own container in AWS: another function's memo of closures is not its
        with scenario.recorder.running("PublishAvailability"):
            return lambdas.publish_availability(event, None)

    return reader.drain(invoke)


@contextlib.contextmanager
def _views_read_published_documents() -> Iterator[None]:
    """The stack's staleness (tests elsewhere publish on every view)."""
    from chalicelib.booking import availability_docs

    real = availability_docs.staleness_seconds
    availability_docs.staleness_seconds = lambda: 2.0  # type: ignore[assignment]
    try:
        yield
    finally:
        availability_docs.staleness_seconds = real  # type: ignore[assignment]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status == status, response
    return response.json


def run_flows(scenario: Scenario) -> None:
    """`lambdas` is app.py: its module-level names are the handlers Lambda calls."""
    import app as lambdas
    from chalicelib.local.gateway import Client

    client, rec = Client(lambdas.app), scenario.recorder
    staff = token_for("18128838410", "staff", "Sara Saksbehandler", orgs=[HER_ID])
    elise, jon, kari = Citizen(61), Citizen(62), Citizen(63)
    today = clock.local(clock.now()).date()

    with rec.running("APIHandler"):  # staff set-up and discovery, through API Gateway
        hc = _ok(
            client.post(
                "/admin/health-contacts",
                {"organisation": "Testkommune", "service": "Smittevern", "her_id": HER_ID},
                token=staff,
            ),
            201,
        )
        tb = _ok(
            client.post(
                "/admin/timebooks",
                {
                    "health_contact_id": hc["id"],
                    "name": "Koronatest",
                    "type": "koronatest",
                    "resource": {"name": "Kovidtest"},
                    "requires_confirmation": True,
                    "hold_minutes": 10,
                    "cancel_deadline_hours": 2,
                },
                token=staff,
            ),
            201,
        )
        location = _ok(
            client.post(
                f"/admin/timebooks/{tb['id']}/locations",
                {"name": "Teststasjon", "address": "Gaten 1, 0271 Oslo"},
                token=staff,
            ),
            201,
        )
        _ok(
            client.post(
                f"/admin/timebooks/{tb['id']}/schedules",
                {
                    "location_id": location["id"],
                    "from": (today + timedelta(days=1)).isoformat(),  # every place beyond change deadlines
                    "to": (today + timedelta(days=14)).isoformat(),
                    "weekdays": [1, 2, 3, 4, 5, 6, 7],
                    "start_time": "08:00",
                    "end_time": "10:00",
                    "slot_minutes": 15,
                    "capacity": 2,
                },
                token=staff,
            ),
            201,
        )
        _ok(client.get("/health-contacts"))
        _ok(client.get(f"/health-contacts/{hc['id']}/timebooks"))
        _ok(client.get(f"/timebooks/{tb['id']}"))
        slot = first_free_slot(client, tb["id"])
        day = slot["start"][:10]

        # Elise: holds and lets go, holds the first available time, books it; staff confirm.
        held = _ok(
            client.post(
                "/holds", {"slot_id": slot["id"]}, token=elise.token, headers={"Idempotency-Key": "elise-hold-1"}
            ),
            201,
        )
        assert client.delete(f"/holds/{held['id']}", token=elise.token).status == 204
        held = _ok(client.post("/holds", {"timebook_id": tb["id"]}, token=elise.token), 201)
        booked = _ok(
            client.post(
                "/appointments",
                {"hold_id": held["id"], "phone": elise.phone, "answers": {}},
                token=elise.token,
                headers={"Idempotency-Key": "elise-book-1"},
            ),
            201,
        )
        assert booked["status"] == "requested"
        _ok(client.get("/appointments", token=elise.token))
        _ok(client.get(f"/appointments/{booked['id']}", token=elise.token))
        assert client.get(f"/appointments/{booked['id']}/ics", token=elise.token).status == 200
        _ok(client.get(f"/admin/timebooks/{tb['id']}/overview?date={booked['start'][:10]}", token=staff))
        _ok(client.get(f"/admin/appointments?timebook_id={tb['id']}&status=requested", token=staff))
        confirmed = _ok(client.post(f"/admin/appointments/{booked['id']}/confirm", {}, token=staff))
        assert confirmed["status"] == "booked"

    # The stream relay puts the changes on the stack's queue; the consumer writes the inbox.
    assert relay_stream(scenario, lambdas).failed == 0
    # The slot changes on the stream publish the public views' documents; a view reads them.
    assert publish_availability(scenario, lambdas).failed == 0
    with rec.running("APIHandler"), _views_read_published_documents():
        _ok(client.get(f"/timebooks/{tb['id']}/slots?date={day}"))
    scenario.results["first_delivery"] = deliver_queued(scenario, lambdas)
    with rec.running("APIHandler"):
        scenario.inbox["elise"] = _ok(client.get("/inbox", token=elise.token))["items"]

    # Jon books; Elise moves her appointment; staff cancel Jon's. SQS is "unreachable" for the
    # relay's first run: the stream record is reported failed and retried.
    with rec.running("APIHandler"):
        taken = {slot["id"], booked["slot_id"]}
        later = [s for s in free_slots(client, tb["id"], day) if s["id"] not in taken]
        jons = _ok(
            client.post(
                "/appointments", {"slot_id": later[0]["id"], "phone": jon.phone, "answers": {}}, token=jon.token
            ),
            201,
        )
        moved = _ok(
            client.post(f"/appointments/{booked['id']}/reschedule", {"slot_id": later[1]["id"]}, token=elise.token)
        )
        assert moved["status"] == "requested"  # moved in a timebook that confirms: a request again
        _ok(client.post(f"/admin/appointments/{booked['id']}/confirm", {}, token=staff))
        _ok(client.post(f"/admin/appointments/{jons['id']}/cancel", {"reason": "Stasjonen stenger"}, token=staff))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("chalicelib.messaging.publisher.SqsPublisher.send", _unreachable)
        scenario.results["relay_refused"] = relay_stream(scenario, lambdas)
    assert relay_stream(scenario, lambdas).failed == 0
    scenario.results["second_delivery"] = deliver_queued(scenario, lambdas)
    with rec.running("APIHandler"):
        scenario.inbox["jon"] = _ok(client.get("/inbox", token=jon.token))["items"]

    # Kari's hold expires; the sweep tidies it and offers the place to Ola, who waits for that time.
    ola, liv, per, mia = Citizen(64), Citizen(65), Citizen(66), Citizen(67)
    with rec.running("APIHandler"):
        _ok(client.post("/holds", {"slot_id": later[2]["id"]}, token=kari.token), 201)
        _ok(client.post("/holds", {"slot_id": later[2]["id"]}, token=liv.token), 201)
        window = {"from": later[2]["start"], "to": later[2]["end"]}
        waiting = _ok(client.post("/waitlist", {"timebook_id": tb["id"], **window}, token=ola.token), 201)
        assert waiting["status"] == "waiting"
    clock.advance(timedelta(minutes=11))
    with rec.running("ReleaseExpiredHolds"):
        lambdas.release_expired_holds(schedule_event(scenario.account, "sweep"), None)
    with rec.running("APIHandler"):
        scenario.results["ola"] = _ok(client.get("/waitlist", token=ola.token))["items"]
    clock.reset()

    # Staff close a day with appointments; the request stops early and the sweep finishes it,
    # telling Mia, who waits for any time.
    closed_day = today + timedelta(days=10)
    with rec.running("APIHandler"):
        for citizen in (liv, per):
            first = free_slots(client, tb["id"], closed_day.isoformat())[0]
            body = {"slot_id": first["id"], "phone": citizen.phone, "answers": {}}
            _ok(client.post("/appointments", body, token=citizen.token), 201)
        _ok(client.post("/waitlist", {"timebook_id": tb["id"]}, token=mia.token), 201)
        closure = {
            "from": f"{closed_day}T08:00:00{later[0]['start'][-6:]}",
            "to": f"{closed_day}T09:00:00{later[0]['start'][-6:]}",
            "reason": "Stasjonen stenger",
        }
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("chalicelib.booking.closures.BUDGET_SECONDS", -1.0)
            closing = client.post(f"/admin/timebooks/{tb['id']}/closures", closure, token=staff)
            scenario.results["closure"] = _ok(closing)
        _ok(client.request("PATCH", f"/admin/slots/{later[3]['id']}", json_body={"capacity": 3}, token=staff))
        _ok(client.get(f"/admin/timebooks/{tb['id']}/audit", token=staff))
    with rec.running("ReleaseExpiredHolds"):
        lambdas.release_expired_holds(schedule_event(scenario.account, "sweep"), None)
    with rec.running("APIHandler"):
        scenario.results["closed_day"] = _ok(
            client.get(f"/admin/timebooks/{tb['id']}/overview?date={closed_day}", token=staff)
        )["items"]

    # The day before Elise's appointment, the reminders; the relay and the consumer bring it.
    start = datetime.fromisoformat(moved["start"])
    noon_before = datetime.combine(start.date() - timedelta(days=1), time(12), tzinfo=clock.OSLO)
    clock.advance(noon_before - clock.now())
    with rec.running("SendReminders"):
        lambdas.send_reminders(schedule_event(scenario.account, "reminders"), None)
    assert relay_stream(scenario, lambdas).failed == 0
    clock.reset()
    # The reminder reaches the consumer at 22:00: its SMS waits until 08:00, when the every-minute
    # schedule sends it (docs/sms.md), from a fresh container that reads the Maskinporten key again.
    from chalicelib.local.krr import captured
    from chalicelib.messaging import sms

    clock.advance(datetime.combine(start.date() - timedelta(days=1), time(22), tzinfo=clock.OSLO) - clock.now())
    scenario.results["third_delivery"] = deliver_queued(scenario, lambdas)
    scenario.results["sms_by_evening"] = captured()
    clock.advance(datetime.combine(start.date(), time(8), tzinfo=clock.OSLO) - clock.now())
    settings.reset()
    with rec.running("ReleaseExpiredHolds"):  # the SMS part of lambdas.release_expired_holds
        scenario.results["sms_due_sent"] = sms.send_due()
    scenario.results["sms"] = captured()
    clock.reset()
    with rec.running("APIHandler"):
        scenario.inbox["elise_later"] = _ok(client.get("/inbox", token=elise.token))["items"]

    # Helsenorge: down for the first try (the sender backs off), then every change arrives.
    receiver = scenario.results["helsenorge_receiver"]
    receiver.down = True
    scenario.results["helsenorge_refused"] = deliver_queued(
        scenario, lambdas, "SendToHelsenorge", "HelsenorgeQueueUrl", rounds=1
    )
    receiver.down = False
    deliver_queued(scenario, lambdas, "SendToHelsenorge", "HelsenorgeQueueUrl")
    # Helsenorge refuses a change (422): dead-lettered at once (issue 19), nothing kept
    from chalicelib.messaging.publisher import HelsenorgePublisher
    from tests.messaging.conftest import event

    receiver.refuse_next = 1
    HelsenorgePublisher().publish(event(receiver.items()[0]["identifier"][0]["value"], "confirmed").message)
    deliver_queued(scenario, lambdas, "SendToHelsenorge", "HelsenorgeQueueUrl")

    # The waiting room (issue 20): Elise joins and polls; the admission schedule steps the room.
    with rec.running("APIHandler"):
        room = _ok(
            client.post(
                "/admin/timebooks",
                {
                    "health_contact_id": hc["id"],
                    "name": "Vaksine",
                    "type": "vaksine",
                    "resource": {"name": "Vaksine"},
                    "waiting_room": {"enabled": True, "admit_per_minute": 60},
                },
                token=staff,
            ),
            201,
        )
        ticket = _ok(client.post(f"/timebooks/{room['id']}/queue", token=elise.token), 201)["ticket"]
        _ok(client.get(f"/queue/{ticket}"))
        _ok(client.get(f"/queue/{ticket}"))  # the key is read once per process, not per call
        # A wave by priority list: staff upload it (BatchWriteItem), change a setting (PATCH), and a
        # hold before the wave looks the person up.
        wave = [{"opens_at": (clock.now() + timedelta(hours=1)).isoformat()}]
        body = {"health_contact_id": hc["id"], "name": "Prioritert", "type": "vaksine", "resource": {"name": "V"}}
        listed = _ok(client.post("/admin/timebooks", {**body, "waves": wave}, token=staff), 201)
        _ok(client.post(f"/admin/timebooks/{listed['id']}/waves/0/people", {"pids": [elise.pid]}, token=staff))
        patch = {"version": listed["version"], "max_active_per_person": 2}
        _ok(client.request("PATCH", f"/admin/timebooks/{listed['id']}", json_body=patch, token=staff))
        scenario.results["listed_hold"] = client.post("/holds", {"timebook_id": listed["id"]}, token=elise.token)
        # The wave moved later: the list's lifetime with it, the request stamping one entry of
        # two, the sweep the other (booking/queue.py restamp_lists).
        _ok(client.post(f"/admin/timebooks/{listed['id']}/waves/0/people", {"pids": [liv.pid]}, token=staff))
        later = [{**listed["waves"][0], "opens_at": (clock.now() + timedelta(hours=2)).isoformat()}]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("chalicelib.booking.queue.RESTAMP_PAGE", 1)
            mp.setattr("chalicelib.booking.queue.RESTAMP_BUDGET_SECONDS", -1.0)
            patch = {"version": listed["version"] + 1, "waves": later}
            _ok(client.request("PATCH", f"/admin/timebooks/{listed['id']}", json_body=patch, token=staff))
    settings.reset()  # another Lambda process, with the same stack's key: the same ticket holds
    with rec.running("APIHandler"):
        scenario.results["ticket_elsewhere"] = client.get(f"/queue/{ticket}")
    with rec.running("AdmitFromQueues"):
        lambdas.admit_from_queues(schedule_event(scenario.account, "queue"), None)
    with rec.running("ReleaseExpiredHolds"):  # its part that stamps lists (the rest ran above)
        from chalicelib.booking import queue as waves

        scenario.results["lists_stamped"] = waves.restamp_unfinished()

    # The SMART feed, as its schedule publishes it.
    with rec.running("PublishFeed"):
        lambdas.publish_feed(schedule_event(scenario.account, "feed"), None)

    # The authorizer, as API Gateway invokes it.
    with rec.running("Token"):
        scenario.results["authorizer"] = lambdas.token(
            {
                "type": "TOKEN",
                "authorizationToken": f"Bearer {elise.token}",
                "methodArn": f"arn:aws:execute-api:{REGION}:{scenario.account}:abc123/api/GET/inbox",
            },
            None,
        )

    # Long after (issue 23): personal data past its retention is erased, as its schedule runs it.
    clock.advance(timedelta(days=400))
    with rec.running("EraseExpiredPersonalData"):
        lambdas.erase_expired_personal_data(schedule_event(scenario.account, "retention"), None)
    clock.reset()


@pytest.fixture(scope="module")
def scenario(template: dict[str, Any]) -> Iterator[Scenario]:
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        part = infra_part(template)
        secrets = secrets_as_parameters(part)
        cloudformation.create_stack(
            StackName="timebok-test",
            TemplateBody=json.dumps(part),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {**PARAMETERS, **secrets}.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        stack = cloudformation.describe_stacks(StackName="timebok-test")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.describe_stack_resources(StackName="timebok-test")["StackResources"]
            if "LogicalResourceId" in r
        }
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        recorder = Recorder()
        result = Scenario(template, outputs, physical, account, recorder)

        # What Lambda would have from the template: the stack's table and queue.
        mp.setenv("TABLE_NAME", outputs["TableName"])
        mp.setenv("EVENTS_QUEUE_URL", outputs["EventsQueueUrl"])
        from chalicelib.local.standards import LOCAL_TOKEN, HelsenorgeReceiver, StandardsServer

        receiver = HelsenorgeReceiver(token=LOCAL_TOKEN)
        standards = StandardsServer(outputs["FeedBucketName"], receiver, 0, s3=boto3.client("s3", region_name=REGION))
        standards.start()
        result.results["helsenorge_receiver"] = receiver
        # Word by SMS (docs/sms.md): KRR and Maskinporten on loopback, the client's key in SSM.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        from chalicelib.local.krr import KrrStandin

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=SMS_KEY_PARAMETER, Value=pem.decode(), Type="SecureString"
        )
        register = KrrStandin(0, people=KRR_PEOPLE, maskinporten_key=key.public_key())
        register.start()
        for name, value in {
            "HELSENORGE_QUEUE_URL": outputs["HelsenorgeQueueUrl"],
            "HELSENORGE_DEAD_LETTER_QUEUE_URL": outputs["HelsenorgeDeadLetterQueueUrl"],
            "HELSENORGE_APPOINTMENT_URL": standards.helsenorge_url,  # a stand-in on loopback
            "HELSENORGE_TOKEN_PROVIDER": "static",
            "HELSENORGE_STATIC_TOKEN": LOCAL_TOKEN,
            "HELSENORGE_RETRY_BASE_SECONDS": "0",
            "FEED_BUCKET": outputs["FeedBucketName"],
            "FEED_BASE_URL": "https://feed.example.no",
            "PORTAL_URL": "https://portal.example.no",
            "FEED_RUNS_PER_MINUTE": "1",
            "NOTIFIER": "sms",
            "KRR_URL": register.url,
            "KRR_TOKEN_PROVIDER": "maskinporten",
            "MASKINPORTEN_TOKEN_URL": register.token_url,
            "MASKINPORTEN_AUDIENCE": "https://test.maskinporten.no/",
            "MASKINPORTEN_CLIENT_ID": "timebok-test",
            "MASKINPORTEN_KEY_ID": "timebok-test-key",
            "MASKINPORTEN_KEY_PARAMETER": SMS_KEY_PARAMETER,
            "SMS_SENDER_ID": "Testkommune",
            "AVAILABILITY_DOCS": "s3",
            "WAITING_ROOM_KEY_SECRET": secrets["WaitingRoomKey"],  # the stack's, by its ARN
        }.items():
            mp.setenv(name, value)
        settings.reset()  # re-reads TABLE_NAME into the models, the queue into the publisher

        iam = boto3.client("iam", region_name=REGION)
        for function in awscalls_functions(template):
            role = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
            role_name = physical[role]
            (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
            raw = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
            result.policies[function] = _policy_document(raw)

        recorder.install(mp)
        try:
            run_flows(result)
            yield result
        finally:
            clock.reset()
            standards.stop()
            register.stop()
    settings.reset()


def awscalls_functions(template: dict[str, Any]) -> list[str]:
    return [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]


# ---- what the stack made ---------------------------------------------------------------------------


def test_stack_made_the_table_and_queues_of_the_template(scenario: Scenario) -> None:
    table = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    described = table.describe_table(TableName=scenario.outputs["TableName"])["Table"]
    assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == {"gsi1", "gsi2"}
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    attributes = sqs.get_queue_attributes(QueueUrl=scenario.outputs["EventsQueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["FifoQueue"] == "true" and attributes["VisibilityTimeout"] == "60"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == awscalls.queue_arn(scenario.outputs["EventsDeadLetterQueueUrl"])
    assert int(redrive["maxReceiveCount"]) == 5


def test_booking_and_confirmation_reach_the_inbox(scenario: Scenario) -> None:
    assert all(answer == {"batchItemFailures": []} for answer in scenario.results["first_delivery"])
    assert {m["kind"] for m in scenario.inbox["elise"]} == {"requested", "confirmed"}


def _unreachable(*_: Any, **__: Any) -> None:
    from botocore.exceptions import EndpointConnectionError

    raise EndpointConnectionError(endpoint_url="https://sqs.example")


def test_the_relay_and_the_schedules_reach_the_inbox(scenario: Scenario) -> None:
    assert scenario.results["relay_refused"].failed == 1  # retried from the failed record, then sent
    assert ("sqs", "SendMessage") in scenario.recorder.operations("RelayEvents")
    assert {m["kind"] for m in scenario.inbox["jon"]} == {"requested", "cancelled"}
    assert {"rescheduled", "reminder"} <= {m["kind"] for m in scenario.inbox["elise_later"]}
    assert ("dynamodb", "UpdateItem") in scenario.recorder.operations("ReleaseExpiredHolds")


def test_helsenorge_gets_every_appointment_and_the_feed_is_published(scenario: Scenario) -> None:
    receiver = scenario.results["helsenorge_receiver"]
    assert any(answer["batchItemFailures"] for answer in scenario.results["helsenorge_refused"])
    assert {r["status"] for r in receiver.items()} == {"booked", "cancelled"}  # Elise's and Jon's
    assert ("sqs", "ChangeMessageVisibility") in scenario.recorder.operations("SendToHelsenorge")
    s3 = boto3.client("s3", region_name=REGION)
    manifest = json.loads(s3.get_object(Bucket=scenario.outputs["FeedBucketName"], Key="$bulk-publish")["Body"].read())
    assert manifest["request"] == "https://feed.example.no/$bulk-publish"


def test_the_sweep_offers_the_waitlist_and_finishes_closures(scenario: Scenario) -> None:
    assert [e["status"] for e in scenario.results["ola"]] == ["offered"]
    assert scenario.results["closure"]["complete"] is False
    closed = [row for row in scenario.results["closed_day"] if row["start"][11:13] == "08"]
    assert closed and all(row["closed"] and row["booked"] == 0 for row in closed)
    assert ("dynamodb", "TransactWriteItems") in scenario.recorder.operations("ReleaseExpiredHolds")


def test_the_sweep_stamps_what_a_settings_change_left_of_a_list(scenario: Scenario) -> None:
    assert scenario.results["lists_stamped"] == 1
    assert ("dynamodb", "UpdateItem") in scenario.recorder.operations("ReleaseExpiredHolds")


def test_the_waiting_room_key_is_the_stacks_read_once_per_process(scenario: Scenario) -> None:
    """Issue 20: tickets are signed with the stack's secret, so a ticket one process gave holds in
    another; each process reads the key once (join and two polls, then one poll after a reset)."""
    assert scenario.results["ticket_elsewhere"].status == 200, scenario.results["ticket_elsewhere"]
    reads = [c for c in scenario.recorder.calls["APIHandler"] if c[:2] == ("secretsmanager", "GetSecretValue")]
    assert len(reads) == 2
    assert all(
        "secretsmanager" not in {c[0] for c in scenario.recorder.calls.get(f, [])}
        for f in scenario.policies
        if f != "APIHandler"
    )


def test_the_authorizer_allows_a_good_token_and_calls_no_aws(scenario: Scenario) -> None:
    statement = scenario.results["authorizer"]["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert scenario.recorder.calls.get("Token", []) == []


# ---- IAM: granted what is used, and used what is granted ----------------------------------------


def test_every_call_is_granted_to_the_function_that_makes_it(scenario: Scenario) -> None:
    refused = [
        f"{function}: {need.action} on {need.resource} (key {need.leading_key})"
        for function in scenario.policies
        for need in sorted(set(scenario.needs_of(function)), key=str)
        if not awscalls.allows(scenario.policies[function], need)
    ]
    assert not refused, "not granted (add to infra/policies/):\n" + "\n".join(refused)


def test_nothing_is_granted_that_no_call_needs(scenario: Scenario) -> None:
    unused = []
    for function, policy in scenario.policies.items():
        needs = scenario.needs_of(function)
        for sid, action, resource in awscalls.grants(policy):
            if action.startswith("logs:"):
                continue  # the Lambda runtime writes the logs, not our code
            single = {"Version": "2012-10-17", "Statement": [_statement(policy, sid)]}
            single["Statement"][0] = {**single["Statement"][0], "Action": action, "Resource": resource}
            if not any(awscalls.allows(single, need) for need in needs):
                unused.append(f"{function}: {sid} grants {action} on {resource}, no call needs it")
    assert not unused, "\n".join(unused)


def _statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in policy["Statement"] if s.get("Sid") == sid)


def test_sms_go_by_krr_once_each_and_the_late_reminder_at_eight(scenario: Scenario) -> None:
    sent = scenario.results["sms"]
    assert sent and {m["to"] for m in sent} == {"+4790000061"}  # Elise only: Jon is reserved, the rest unknown
    bodies = [m["body"] for m in sent]
    assert sum(b.startswith("Påminnelse") for b in bodies) == 1
    assert not any(m["body"].startswith("Påminnelse") for m in scenario.results["sms_by_evening"])
    assert scenario.results["sms_due_sent"] == 1
    assert sum("er bekreftet" in b for b in bodies) == 2 and sum("er flyttet" in b for b in bodies) == 1
    assert len({m["appointment_id"] for m in sent}) == 1 and all(m["sent_at"] for m in sent)


def test_every_aws_call_in_the_code_is_exercised(scenario: Scenario) -> None:
    """A call the scenario never makes would have its permission unchecked: add it to the flows."""
    made = set().union(*(scenario.recorder.operations(f) for f in scenario.policies))
    assert made >= STATIC_OPERATIONS, f"never called here: {sorted(STATIC_OPERATIONS - made)}"


def test_roles_come_from_the_policy_files_and_have_no_wildcards(template: dict[str, Any]) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    files = {
        name: json.loads((ROOT / ".chalice" / settings["iam_policy_file"]).read_text(encoding="utf-8"))
        for name, settings in config["lambda_functions"].items()
    }
    roles = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    for function in awscalls_functions(template):
        role = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
        handler = template["Resources"][function]["Properties"]["Handler"].split(".")[1]
        name = "api_handler" if handler == "app" else handler
        (policy,) = roles[role]["Properties"]["Policies"]
        assert policy["PolicyDocument"] == files[name], function
    for logical_id, role in roles.items():
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                for action in awscalls._as_list(statement["Action"]):
                    assert "*" not in action, f"{logical_id}: wildcard action {action}"
                if statement["Action"] == ["sns:Publish"]:
                    continue  # an SMS has no resource to name (docs/sms.md); a Deny keeps topics out
                for resource in awscalls._as_list(statement["Resource"]):
                    # Only the stack's own resources, by reference; no "*", not even in "index/*".
                    assert isinstance(resource, dict), f"{logical_id}: literal resource {resource!r}"
                    if resource in OBJECT_PREFIXES:
                        continue
                    assert "*" not in json.dumps(resource), f"{logical_id}: wildcard resource {resource}"


def test_the_policy_files_are_the_ones_in_infra() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    for function in config["lambda_functions"].values():
        path = (ROOT / ".chalice" / function["iam_policy_file"]).resolve()
        assert path.parent == ROOT / "infra" / "policies", path
    assert {p.stem for p in (ROOT / "infra" / "policies").glob("*.json")} == set(config["lambda_functions"])
