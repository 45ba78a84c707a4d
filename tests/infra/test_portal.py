"""The portal in the stack: a private bucket behind CloudFront, CORS on API Gateway's own answers,
and the publish step that puts web/ and config.json (the API's URL) into the bucket."""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.infra.conftest import ROOT

REGION = "eu-north-1"


def _publish_script() -> Any:
    spec = importlib.util.spec_from_file_location("timebok_publish_portal", ROOT / "scripts" / "publish_portal.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


publishing = _publish_script()


def test_the_bucket_is_private_and_only_the_distribution_reads_it(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["PortalBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    statements = resources["PortalBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in allow] == [{"Service": "cloudfront.amazonaws.com"}]
    source = allow[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith("distribution/${PortalDistribution}")
    config = resources["PortalDistribution"]["Properties"]["DistributionConfig"]
    origin = config["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PortalOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert any(b["PathPattern"] == "/config.json" for b in config["CacheBehaviors"])
    assert {"PortalURL", "PortalBucketName", "PortalDistributionId"} <= set(template["Outputs"])


def test_the_api_allows_the_portal_origin_also_on_api_gateways_own_answers(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    origin = {"Fn::Sub": "https://${PortalDistribution.DomainName}"}
    assert resources["APIHandler"]["Properties"]["Environment"]["Variables"]["PORTAL_ORIGIN"] == origin
    answers = resources["RestAPI"]["Properties"]["GatewayResponses"]
    for name in ("UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"):
        headers = answers[name]["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == {"Fn::Sub": "'https://${PortalDistribution.DomainName}'"}
        assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    assert answers["THROTTLED"]["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"


@pytest.fixture
def deployed() -> Any:
    """moto with what publish_portal.py reads: a stack whose outputs name a bucket and a distribution."""
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        distribution = session.client("cloudfront").create_distribution(
            DistributionConfig={
                "CallerReference": "portal",
                "Comment": "",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {"Id": "o", "DomainName": "b.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}}
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "o",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "MinTTL": 0,
                    "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                },
            }
        )["Distribution"]
        stack = {
            "Parameters": {"TokenIssuer": {"Type": "String"}},
            "Resources": {"PortalBucket": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {
                "PortalBucketName": {"Value": {"Ref": "PortalBucket"}},
                "EndpointURL": {"Value": "https://abc123.execute-api.eu-north-1.amazonaws.com/api/"},
                "ApiCdnURL": {"Value": "https://d111111abcdef8.cloudfront.net/"},
                "PortalURL": {"Value": f"https://{distribution['DomainName']}"},
                "PortalDistributionId": {"Value": distribution["Id"]},
            },
        }
        session.client("cloudformation").create_stack(
            StackName="timebok-test",
            TemplateBody=json.dumps(stack),
            Parameters=[{"ParameterKey": "TokenIssuer", "ParameterValue": "https://idporten.no"}],
        )
        yield session, distribution["Id"]


def test_publish_puts_the_pages_and_a_config_naming_the_stacks_api(deployed: Any) -> None:
    session, distribution_id = deployed
    summary = publishing.publish(session, "timebok-test", "prod", "timebok-portal")
    s3 = session.client("s3")
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket=summary["bucket"])["Contents"]}
    web = ROOT / "web"
    pages = {p.relative_to(web).as_posix() for p in web.rglob("*") if p.is_file()}
    catalogues = {f"i18n/{lang}.json" for lang in ("nb", "nn", "en")}  # from chalicelib/i18n/
    assert stored == pages | catalogues | {"config.json"}
    config = json.loads(s3.get_object(Bucket=summary["bucket"], Key="config.json")["Body"].read())
    assert config == {
        "api": "https://d111111abcdef8.cloudfront.net",  # issue 20: the CDN, not the API's origin
        "stage": "prod",
        "sign_in": {"mode": "oidc", "issuer": "https://idporten.no", "client_id": "timebok-portal"},
    }
    script = s3.head_object(Bucket=summary["bucket"], Key="js/portal.js")
    assert script["ContentType"].startswith("text/javascript")
    assert s3.head_object(Bucket=summary["bucket"], Key="index.html")["CacheControl"] == "no-cache"
    invalidations = session.client("cloudfront").list_invalidations(DistributionId=distribution_id)
    assert invalidations["InvalidationList"]["Quantity"] == 1


def test_publish_names_another_issuer_when_told(deployed: Any) -> None:
    session, _ = deployed
    summary = publishing.publish(
        session, "timebok-test", "prod", "portal", "https://helseid-sts.nhn.no/", invalidate=False
    )
    config = json.loads(session.client("s3").get_object(Bucket=summary["bucket"], Key="config.json")["Body"].read())
    assert config["sign_in"] == {"mode": "oidc", "issuer": "https://helseid-sts.nhn.no", "client_id": "portal"}


def test_publish_refuses_an_issuer_that_is_not_https() -> None:
    assert publishing.main(["--stack-name", "x", "--client-id", "p", "--issuer", "http://idp.example.no"]) == 1
