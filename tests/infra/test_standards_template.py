"""The stack's part for the open standards: Helsenorge queues and sender, the feed's bucket and CDN."""

from __future__ import annotations

from typing import Any

from tests.infra.test_template import props, resources


def test_helsenorge_queue_redrive_and_sender(template: dict[str, Any]) -> None:
    queue, dlq = props(template, "HelsenorgeQueue"), props(template, "HelsenorgeDeadLetterQueue")
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["HelsenorgeDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 10  # with backoff: hours of Helsenorge downtime
    function = props(template, "SendToHelsenorge")
    ((_, event),) = function["Events"].items()
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${HelsenorgeQueue.Arn}"}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    # The slowest batch (every PUT timing out) ends before the function does.
    from chalicelib.messaging.helsenorge import TIMEOUT_SECONDS

    assert event["Properties"]["BatchSize"] * TIMEOUT_SECONDS < function["Timeout"]
    alarm = props(template, "HelsenorgeDeadLetterQueueNotEmpty")
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["HelsenorgeDeadLetterQueue", "QueueName"]}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_every_function_knows_the_standards_settings(template: dict[str, Any]) -> None:
    for name, resource in resources(template).items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        variables = resource["Properties"]["Environment"]["Variables"]
        assert variables["HELSENORGE_QUEUE_URL"] == {"Ref": "HelsenorgeQueue"}, name
        assert variables["HELSENORGE_APPOINTMENT_URL"] == {"Ref": "HelsenorgeAppointmentUrl"}, name
        assert variables["FEED_BUCKET"] == {"Ref": "FeedBucket"}, name
        assert variables["FEED_BASE_URL"] == {"Fn::Sub": "https://${FeedDistribution.DomainName}"}, name
        assert variables["PORTAL_URL"] == {"Ref": "PortalUrl"}, name


def test_the_feed_bucket_is_private_and_read_through_cloudfront_only(template: dict[str, Any]) -> None:
    bucket = props(template, "FeedBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (allow, deny) = props(template, "FeedBucketPolicy")["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    assert "${FeedDistribution}" in allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    config = props(template, "FeedDistribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["FeedOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy identity
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    oac = props(template, "FeedOriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["SigningBehavior"], oac["SigningProtocol"]) == ("always", "sigv4")


def test_the_feed_is_published_every_minute(template: dict[str, Any]) -> None:
    function = props(template, "PublishFeed")
    ((_, event),) = function["Events"].items()
    assert event["Type"] == "Schedule" and event["Properties"]["Schedule"] == "rate(1 minute)"
    assert function["Environment"]["Variables"]["FEED_RUNS_PER_MINUTE"] == "2"
