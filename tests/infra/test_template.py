"""The packaged template: cfn-lint clean, and wired the way the code and the issue need it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import Throttled, Unavailable
from chalicelib.http import errors
from tests.infra.awscalls import static_operations
from tests.infra.conftest import ROOT, STAGES, packaging

FUNCTIONS = (
    "APIHandler",
    "Token",
    "DeliverToInbox",
    "RelayEvents",
    "ReleaseExpiredHolds",
    "SendReminders",
    "EraseExpiredPersonalData",
    "PublishFeed",
    "SendToHelsenorge",
    "AdmitFromQueues",  # issue 20
    "PublishAvailability",
)
LINT_REGIONS = ("eu-north-1", "us-east-1")


def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return resources(template)[logical_id]["Properties"]


def cfn_lint(path: Path) -> list[dict[str, Any]]:
    """cfn-lint's findings (errors, warnings and informational) as JSON; needs no network."""
    executable = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or "cfn-lint"
    command = [executable, "--format", "json", "--include-checks", "I", "--regions", *LINT_REGIONS, "--", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.stdout.strip(), f"cfn-lint printed nothing (exit {result.returncode}): {result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_finds_no_errors(packaged: dict[str, Path], stage: str) -> None:
    findings = cfn_lint(packaged[stage])
    for finding in findings:
        if finding["Level"] != "Error":
            where = "/".join(str(p) for p in finding["Location"]["Path"])
            warnings.warn(f"cfn-lint {finding['Rule']['Id']} at {where}: {finding['Message']}", stacklevel=1)
    errors_found = [f"{f['Rule']['Id']} {f['Message']}" for f in findings if f["Level"] == "Error"]
    assert not errors_found, "\n".join(errors_found)


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_is_wired(templates: dict[str, dict[str, Any]], stage: str) -> None:
    """Environment, name, log group, alarm, own role, SQS wiring (scripts/package.py's check)."""
    assert packaging.check_template(templates[stage]) == []
    assert set(packaging.functions_of(templates[stage])) == set(FUNCTIONS)


def test_the_check_catches_a_function_without_wiring(template: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(template))
    del broken["Resources"]["RelayEvents"]["Properties"]["Environment"]["Variables"]["TABLE_NAME"]
    broken["Resources"]["DeliverToInbox"]["Properties"]["Events"]["DeliverToInboxSqsEventSource"]["Properties"].pop(
        "FunctionResponseTypes"
    )
    broken["Resources"]["Typo"] = {"Properties": {}}
    problems = packaging.check_template(broken)
    assert any(p.startswith("RelayEvents: TABLE_NAME") for p in problems)
    assert any("ReportBatchItemFailures" in p for p in problems)
    assert any(p.startswith("Typo:") for p in problems)


def test_api_has_the_routes_of_a_deployed_stage(template: dict[str, Any]) -> None:
    """Packaged from a shell with the local stage's DEV_TOKENS=enabled (tests/conftest.py sets it),
    the API still has no /dev/token: chalice package imports app.py with the stage's variables."""
    import os

    assert os.environ.get("DEV_TOKENS") == "enabled"
    paths = props(template, "RestAPI")["DefinitionBody"]["paths"]
    assert "/dev/token" not in paths
    assert {"/holds", "/appointments", "/admin/appointments/{appointment_id}/confirm"} <= set(paths)


def test_table(template: dict[str, Any]) -> None:
    table = resources(template)["TimebokTable"]
    p = table["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert {i["IndexName"]: i["Projection"]["ProjectionType"] for i in p["GlobalSecondaryIndexes"]} == {
        "gsi1": "ALL",
        "gsi2": "ALL",
    }
    assert p["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"]["SSEEnabled"] is True
    assert p["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert p["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTable", True, False]}
    assert template["Conditions"]["ProtectTable"] == {"Fn::Equals": [{"Ref": "TableDeletionProtection"}, "enabled"]}
    assert template["Parameters"]["TableDeletionProtection"]["Default"] == "enabled"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_ttl_attribute_is_the_one_the_code_writes() -> None:
    from chalicelib.storage.models import IdempotencyItem

    assert IdempotencyItem.ttl.attr_name == "ttl"


def test_queues_and_redrive(template: dict[str, Any]) -> None:
    queue, dlq = props(template, "EventsQueue"), props(template, "EventsDeadLetterQueue")
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True


def test_the_relay_reads_the_tables_stream(template: dict[str, Any]) -> None:
    """Issue 10: the relay is fed by the table's stream, only with records that carry an event,
    retried from a failed record, bounded, and what it gives up on lands in a queue with an alarm."""
    from chalicelib.messaging.relay import message_of

    view = props(template, "TimebokTable")["StreamSpecification"]["StreamViewType"]
    assert view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
    ((logical_id, mapping),) = [
        (k, r)
        for k, r in resources(template).items()
        if r.get("Type") == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": "RelayEvents"}
    ]
    source = mapping["Properties"]
    assert source["EventSourceArn"] == {"Fn::GetAtt": ["TimebokTable", "StreamArn"]}
    assert source["FunctionName"] == {"Ref": "RelayEvents"}
    assert source["StartingPosition"] == "TRIM_HORIZON"
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BisectBatchOnFunctionError"] is True
    assert 0 < source["MaximumRetryAttempts"] <= 10000
    assert 60 <= source["MaximumRecordAgeInSeconds"] < 24 * 3600  # time left to replay from the stream
    destination = source["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["RelayFailuresQueue", "Arn"]}
    alarms = [
        r["Properties"]
        for r in resources(template).values()
        if r.get("Type") == "AWS::CloudWatch::Alarm"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": ["RelayFailuresQueue", "QueueName"]}}
        in r["Properties"].get("Dimensions", [])
    ]
    assert alarms and alarms[0]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    # The filter lets through what the relay turns into a message, and nothing else.
    ((only,),) = [source["FilterCriteria"]["Filters"]]
    pattern = json.loads(only["Pattern"])
    assert pattern["eventName"] == ["INSERT", "MODIFY"]
    assert pattern["dynamodb"]["NewImage"]["ev"] == {"M": {"k": {"S": [{"exists": True}]}}}
    assert message_of({"eventName": "MODIFY", "dynamodb": {"NewImage": {"pk": {"S": "SLOT#x"}}}}) is None
    # Its role may read the stream and report failed batches.
    role = resources(template)[props(template, "RelayEvents")["Role"]["Fn::GetAtt"][0]]
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    stream_actions = {
        a for s in statements if s["Resource"] == {"Fn::GetAtt": ["TimebokTable", "StreamArn"]} for a in s["Action"]
    }
    assert {"dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"} <= stream_actions
    assert any(s["Resource"] == {"Fn::GetAtt": ["RelayFailuresQueue", "Arn"]} for s in statements)
    assert logical_id


def test_the_publisher_of_availability_reads_slot_changes_from_the_stream(template: dict[str, Any]) -> None:
    """Issue 20: slot records only, batched at most 1 s (the stated staleness of the public views)."""
    from chalicelib.booking.availability_docs import is_slot_change

    (source,) = [
        r["Properties"]
        for r in resources(template).values()
        if r.get("Type") == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": "PublishAvailability"}
    ]
    assert source["EventSourceArn"] == {"Fn::GetAtt": ["TimebokTable", "StreamArn"]}
    assert source["MaximumBatchingWindowInSeconds"] <= 1
    ((only,),) = [source["FilterCriteria"]["Filters"]]
    assert json.loads(only["Pattern"]) == {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "SLOT#"}]}}}}
    assert is_slot_change({"dynamodb": {"Keys": {"pk": {"S": "SLOT#tb_loc_202601010800"}}}})
    assert not is_slot_change({"dynamodb": {"Keys": {"pk": {"S": "TB#tb#AV#2026-01"}}}})
    assert props(template, "APIHandler")["Environment"]["Variables"]["AVAILABILITY_DOCS"] == "s3"


def test_consumer_event_source(template: dict[str, Any]) -> None:
    function = props(template, "DeliverToInbox")
    ((_, event),) = function["Events"].items()
    assert event["Type"] == "SQS"
    source = event["Properties"]
    assert source["Queue"] == {"Fn::Sub": "${EventsQueue.Arn}"}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BatchSize"] == 10
    # AWS: the queue's visibility timeout at least 6x the function's timeout, so retries of a
    # throttled batch do not make messages visible (and count as a receive) while in flight.
    assert props(template, "EventsQueue")["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_environment_of_every_function(template: dict[str, Any]) -> None:
    for name in FUNCTIONS:
        variables = props(template, name)["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == {"Ref": "TimebokTable"}, name
        assert variables["EVENTS_QUEUE_URL"] == {"Ref": "EventsQueue"}, name
        assert variables["TOKEN_MODE"] == "rs256", name
        assert variables["TOKEN_ISSUER"] == {"Ref": "TokenIssuer"}, name
        assert variables["TOKEN_AUDIENCE"] == {"Ref": "TokenAudience"}, name
        assert variables["TOKEN_JWKS_URL"] == {"Ref": "TokenJwksUrl"}, name
        assert "TOKEN_SECRET" not in variables and "DEV_TOKENS" not in variables, name


def test_token_parameters_make_valid_rs256_settings(template: dict[str, Any]) -> None:
    """What the parameters allow is what the verifier accepts (an https JWKS URL, issuer, audience)."""
    from chalicelib.http.tokens import TokenSettings

    assert template["Parameters"]["TokenJwksUrl"]["AllowedPattern"].startswith("^https://")
    settings = TokenSettings.from_env(
        {
            "TOKEN_MODE": "rs256",
            "TOKEN_ISSUER": "https://idp.example",
            "TOKEN_AUDIENCE": "timebok",
            "TOKEN_JWKS_URL": "https://idp.example/jwks",
        }
    )
    assert settings.mode == "rs256"


def test_log_groups_are_the_functions_and_kept(template: dict[str, Any]) -> None:
    assert template["Parameters"]["LogRetentionInDays"]["Default"] == 30
    for name in FUNCTIONS:
        function_name = props(template, name)["FunctionName"]["Fn::Sub"]
        group = props(template, f"{name}LogGroup")
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}
        assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def _alarm(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource = resources(template)[logical_id]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    return resource["Properties"]


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    if "MetricName" in alarm:
        return {alarm["MetricName"]}
    return {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}


def test_alarms(template: dict[str, Any]) -> None:
    dlq = _alarm(template, "EventsDeadLetterQueueNotEmpty")
    assert dlq["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]}}]
    assert (dlq["ComparisonOperator"], dlq["Threshold"]) == ("GreaterThanThreshold", 0)
    assert _metric_names(_alarm(template, "TableThrottledRequests")) == {"ThrottledRequests"}
    assert _metric_names(_alarm(template, "TableReadThrottleEvents")) == {"ReadThrottleEvents"}
    assert _metric_names(_alarm(template, "TableWriteThrottleEvents")) == {"WriteThrottleEvents"}
    api = _alarm(template, "Api5xxErrors")
    assert api["MetricName"] == "5XXError"
    assert api["Dimensions"][0]["Value"] == props(template, "RestAPI")["Name"]
    for name in FUNCTIONS:
        alarm = _alarm(template, f"{name}Errors")
        assert alarm["MetricName"] == "Errors"
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": name}}]
    for logical_id, resource in resources(template).items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert resource["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id


def test_throttling_alarm_covers_every_operation_the_code_uses(template: dict[str, Any]) -> None:
    alarm = _alarm(template, "TableThrottledRequests")
    operations = {
        d["Value"]
        for m in alarm["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "Operation"
    }
    assert {op for service, op in static_operations() if service == "dynamodb"} <= operations


GATEWAY = {
    # response type: (status, body, headers) as the code and chalicelib/local/gateway.py answer
    "UNAUTHORIZED": ("401", errors.body("unauthorized", "A valid token is required."), {}),
    "ACCESS_DENIED": ("403", errors.body("forbidden", "Not allowed."), {}),
    "MISSING_AUTHENTICATION_TOKEN": ("404", errors.body("not_found", "No such resource."), {}),
    "THROTTLED": ("429", errors.body(Throttled.code, Throttled().message), Throttled().headers),
    # Lambda refusing invocations (concurrency) and timeouts are load: 429, never a 503.
    "INTEGRATION_FAILURE": ("429", errors.body(Throttled.code, Throttled().message), Throttled().headers),
    "INTEGRATION_TIMEOUT": ("429", errors.body(Throttled.code, Throttled().message), Throttled().headers),
    "AUTHORIZER_FAILURE": ("503", errors.body(Unavailable.code, Unavailable().message), Unavailable().headers),
    "DEFAULT_5XX": (None, json.loads(errors.internal_error()[2]), {}),
}


@pytest.mark.parametrize("response_type", sorted(GATEWAY))
def test_gateway_responses_speak_api_md(template: dict[str, Any], response_type: str) -> None:
    status, body, headers = GATEWAY[response_type]
    response = props(template, "RestAPI")["GatewayResponses"][response_type]
    assert response.get("StatusCode") == status
    assert json.loads(response["ResponseTemplates"]["application/json"]) == body
    # The CORS headers every answer carries are checked in tests/infra/test_portal.py.
    headers_sent = response.get("ResponseParameters", {}).get("Headers", {}).items()
    sent = {
        k: v.strip("'")
        for k, v in headers_sent
        if k not in ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Vary")
    }
    assert sent == headers


def test_local_gateway_gives_the_same_answers(template: dict[str, Any]) -> None:
    """The local gateway's 401 and 404 bodies equal the deployed gateway responses."""
    from app import app
    from chalicelib.local.gateway import Client

    client = Client(app)
    responses = props(template, "RestAPI")["GatewayResponses"]
    for response_type, answer in (
        ("UNAUTHORIZED", client.get("/inbox")),
        ("MISSING_AUTHENTICATION_TOKEN", client.get("/no/such/route")),
    ):
        assert str(answer.status) == responses[response_type]["StatusCode"]
        assert answer.json == json.loads(responses[response_type]["ResponseTemplates"]["application/json"])


def test_api_throttling_answers_429_before_lambda_is_throttled(template: dict[str, Any]) -> None:
    (setting,) = props(template, "RestAPI")["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}


def test_surge_sizing_is_parameters(template: dict[str, Any]) -> None:
    """API throttling, reserved concurrency and the table's warm throughput are stack parameters."""
    parameters = template["Parameters"]
    for name in (
        "ApiThrottlingRateLimit",
        "ApiThrottlingBurstLimit",
        "ApiReservedConcurrency",
        "TableWarmReadUnitsPerSecond",
        "TableWarmWriteUnitsPerSecond",
    ):
        assert parameters[name]["Type"] == "Number", name
    assert props(template, "TimebokTable")["WarmThroughput"] == {
        "ReadUnitsPerSecond": {"Ref": "TableWarmReadUnitsPerSecond"},
        "WriteUnitsPerSecond": {"Ref": "TableWarmWriteUnitsPerSecond"},
    }


def test_public_reads_are_cached_by_the_cdn(template: dict[str, Any]) -> None:
    """CloudFront caches the public routes for as long as their Cache-Control says, with the
    query string in the key; every other route (tokens, writes) passes through uncached."""
    config = props(template, "ApiDistribution")["DistributionConfig"]
    cached = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(cached) == {"/timebooks/*", "/health-contacts*"}
    assert all(b["CachePolicyId"] == {"Ref": "PublicCachePolicy"} for b in cached.values())
    assert all("POST" not in b["AllowedMethods"] for b in cached.values())
    policy = props(template, "PublicCachePolicy")["CachePolicyConfig"]
    assert policy["DefaultTTL"] == 0 and policy["MinTTL"] == 0  # the origin's max-age rules
    keys = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert keys["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    # Issue 20: the portal calls the API through the CDN; CORS answers by Origin, so Origin (and
    # the preflight's headers) are in the key and forwarded. No Authorization: public only.
    assert keys["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    assert set(keys["HeadersConfig"]["Headers"]) == {
        "Origin",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
    }
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def test_sizing(templates: dict[str, dict[str, Any]]) -> None:
    """The numbers docs/decisions.md explains; reserved concurrency only in prod."""
    prod, dev = templates["prod"], templates["dev"]
    expected = {
        "APIHandler": (512, 10),
        "Token": (256, 10),
        "DeliverToInbox": (256, 10),
        "RelayEvents": (256, 30),
        "ReleaseExpiredHolds": (256, 50),
        "SendReminders": (256, 900),
        "EraseExpiredPersonalData": (256, 300),
        "PublishFeed": (512, 50),
        "SendToHelsenorge": (256, 30),
        "AdmitFromQueues": (256, 50),
        "PublishAvailability": (512, 30),
    }
    for name, (memory, timeout) in expected.items():
        for template in (prod, dev):
            assert (props(template, name)["MemorySize"], props(template, name)["Timeout"]) == (memory, timeout), name
    reserved = {"Fn::If": ["ReserveApiConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert props(prod, "APIHandler")["ReservedConcurrentExecutions"] == reserved  # a stack parameter
    assert props(dev, "APIHandler")["ReservedConcurrentExecutions"] == reserved  # 0 by default: none
    assert props(prod, "Token")["ReservedConcurrentExecutions"] == 20
    assert all("ReservedConcurrentExecutions" not in props(dev, name) for name in FUNCTIONS if name != "APIHandler")
    # A schedule's run ends before the next one starts (rate 1 minute).
    for name in ("ReleaseExpiredHolds", "PublishFeed", "AdmitFromQueues"):
        assert props(prod, name)["Timeout"] < 60, name


def test_local_stage_is_untouched_by_packaging() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    local = config["stages"]["local"]["environment_variables"]
    assert local["TOKEN_MODE"] == "hs256" and local["DEV_TOKENS"] == "enabled"
    for stage in STAGES:
        variables = config["stages"][stage]["environment_variables"]
        assert variables["TOKEN_MODE"] == "rs256"
        assert "DEV_TOKENS" not in variables and "TOKEN_SECRET" not in variables


def test_the_waiting_room_key_is_the_stacks_own_secret_read_only_by_the_api(template: dict[str, Any]) -> None:
    """Issue 20: tickets are keyed with a secret the stack generates (no token secret in AWS), so
    every process accepts every other's tickets; only the API handler may read it, that one secret."""
    key = resources(template)["WaitingRoomKey"]
    assert key["Type"] == "AWS::SecretsManager::Secret"
    assert key["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in key["Properties"]  # generated by AWS, in no template or parameter
    for function in FUNCTIONS:
        variables = props(template, function)["Environment"]["Variables"]
        assert variables["WAITING_ROOM_KEY_SECRET"] == {"Ref": "WaitingRoomKey"}, function
    readers = {}
    for function in FUNCTIONS:
        role = props(template, function)["Role"]["Fn::GetAtt"][0]
        for policy in props(template, role)["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("secretsmanager:") for a in actions):
                    readers[function] = (actions, statement["Resource"])
    assert readers == {"APIHandler": (["secretsmanager:GetSecretValue"], {"Ref": "WaitingRoomKey"})}
