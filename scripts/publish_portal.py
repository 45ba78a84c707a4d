"""`make publish-portal STACK=...`: put the portal (web/) and its config.json into the deployed stack.

After `sam deploy` (README, "Deploy to AWS"): reads the stack's outputs (PortalBucketName,
ApiCdnURL (else EndpointURL), PortalURL, PortalDistributionId), uploads every file of web/ with its content type
and cache lifetime, writes config.json naming the API (the step that binds the pages to this
stack's API), and invalidates the distribution so the new files show at once. Needs AWS
credentials allowed to read the stack, write the bucket and invalidate the distribution.

Sign-in: config.json names the OpenID provider (`--issuer`, by default the stack's TokenIssuer,
the issuer the API trusts) and the portal's client id there (`--client-id`); the portal signs in
with the authorization code flow, PKCE, `state` and `nonce` (web/js/signin.js, docs/security.md).
The provider must list `<PortalURL>/` as a redirect URI of that client.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
# One text catalogue per language for the pages, the inbox and the .ics: kept with the server's code
# (the Lambda zip needs them) and published beside the pages as i18n/{lang}.json.
CATALOGUES = ROOT / "chalicelib" / "i18n"

# Not fingerprinted, so short: a fix reaches every citizen within minutes even without the
# invalidation. config.json is never cached (its CloudFront behaviour disables caching too).
CACHE_SECONDS = {".html": 0, ".json": 0, ".js": 300, ".css": 300}
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs, and its parameters (TokenIssuer) under their own names."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    found = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    found.update({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])})
    return found


def portal_config(api_url: str, stage: str, issuer: str, client_id: str) -> dict[str, Any]:
    """The deployed config.json: the same shape as the local one (chalicelib/local/portal.py)."""
    sign_in = {"mode": "oidc", "issuer": issuer.rstrip("/"), "client_id": client_id}
    return {"api": api_url.rstrip("/"), "stage": stage, "sign_in": sign_in}


def portal_files(web: Path = WEB, catalogues: Path = CATALOGUES) -> Iterator[tuple[str, Path]]:
    """(key, path) of every file to publish; a config.json in web/ would shadow the stack's."""
    for path in sorted(web.rglob("*")):
        if path.is_file() and path.name != "config.json" and not path.name.startswith("."):
            yield path.relative_to(web).as_posix(), path
    for path in sorted(catalogues.glob("*.json")):
        yield f"i18n/{path.name}", path


def headers_for(key: str) -> dict[str, str]:
    suffix = Path(key).suffix
    content_type = CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"
    seconds = CACHE_SECONDS.get(suffix, 300)
    cache = "no-cache" if seconds == 0 else f"public, max-age={seconds}"
    return {"ContentType": content_type, "CacheControl": cache}


def publish(
    session: Any,
    stack_name: str,
    stage: str,
    client_id: str,
    issuer: str | None = None,
    web: Path = WEB,
    invalidate: bool = True,
) -> dict[str, Any]:
    outputs = stack_outputs(session.client("cloudformation"), stack_name)
    # The API behind the CDN (issue 20): the public views are cached at the edge, with `Origin`
    # in the cache key so CORS survives; a stack without it (older) is called at its origin.
    bucket, api_url = outputs["PortalBucketName"], outputs.get("ApiCdnURL") or outputs["EndpointURL"]
    issuer = issuer or outputs.get("TokenIssuer", "")
    if not issuer.startswith("https://"):
        raise ValueError("the OpenID issuer must be an https URL (--issuer or the stack's TokenIssuer)")
    s3 = session.client("s3")
    keys = []
    for key, path in portal_files(web):
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **headers_for(key))
        keys.append(key)
    config = json.dumps(portal_config(api_url, stage, issuer, client_id)).encode()
    s3.put_object(Bucket=bucket, Key="config.json", Body=config, **headers_for("config.json"))
    keys.append("config.json")
    if invalidate:
        session.client("cloudfront").create_invalidation(
            DistributionId=outputs["PortalDistributionId"],
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time_ns())},
        )
    return {"bucket": bucket, "api": api_url, "issuer": issuer, "portal": outputs.get("PortalURL", ""), "files": keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--stage", default="prod", choices=("dev", "prod"))
    parser.add_argument("--client-id", required=True, help="the portal's client id at the OpenID provider")
    parser.add_argument("--issuer", default=None, help="the OpenID provider (https; default: the stack's TokenIssuer)")
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    if args.issuer is not None and not args.issuer.startswith("https://"):
        print("publish-portal: --issuer must be an https URL", file=sys.stderr)
        return 1
    import boto3

    session = boto3.session.Session(region_name=args.region)
    try:
        summary = publish(session, args.stack_name, args.stage, args.client_id, args.issuer)
    except ValueError as error:
        print(f"publish-portal: {error}", file=sys.stderr)
        return 1
    print(f"published {len(summary['files'])} files to s3://{summary['bucket']} (API {summary['api']})")
    print(f"the portal: {summary['portal']}/  (sign-in at {summary['issuer']}; register {summary['portal']}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
