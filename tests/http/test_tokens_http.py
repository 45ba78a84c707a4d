"""Bad tokens over the in-process gateway: each is refused with 401 and API.md's JSON error.

tests/http/test_tokens.py tests `TokenVerifier` directly; here the same failures go through
what a client meets: the Chalice authorizer run the way API Gateway runs it, configured from the
environment (`TOKEN_*`) exactly as a deployed stage is (`chalicelib.settings.reset()` makes the
process-wide verifier re-read it). Every refusal must look the same, so a caller learns nothing
about why a token failed, and must never echo the token or an identity number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chalicelib import settings
from tests.conftest import moto_aws
from tests.factories import make_pid

ISSUER = "https://idp.timebok.test"
AUDIENCE = "timebok-api"
PID = make_pid(501)
OTHER_PID = make_pid(502)
UNAUTHORIZED_BODY = {"error": {"code": "unauthorized", "message": "A valid token is required."}}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": PID,
        "role": "citizen",
        "name": "Kari Nordmann",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _tampered(token: str, **changes: Any) -> str:
    """The same header and signature over a changed payload."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return ".".join([header, _b64(json.dumps(claims).encode()), signature])


def _hs256_with(key: bytes, claims: dict[str, Any], kid: str | None = None) -> str:
    """HS256 by hand: PyJWT refuses to use a PEM as an HMAC secret, an attacker would not."""
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _alg_none(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none")


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway() -> Iterator[Any]:
    """The app behind the local gateway, with moto's DynamoDB (a 200 reads the caller's appointments)."""

    from app import app
    from chalicelib.local.gateway import Client

    with moto_aws():
        yield Client(app)


@pytest.fixture(autouse=True)
def _fresh_verifier() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_path(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Path:
    jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "key-1", "use": "sig", "alg": "RS256"}]}))
    return path


@pytest.fixture
def rs256(monkeypatch: pytest.MonkeyPatch, jwks_path: Path) -> None:
    """The verifier as in dev and prod: RS256, keys from a JWKS, issuer and audience required."""
    monkeypatch.setenv("TOKEN_MODE", "rs256")
    monkeypatch.setenv("TOKEN_JWKS_PATH", str(jwks_path))
    monkeypatch.setenv("TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("TOKEN_AUDIENCE", AUDIENCE)
    monkeypatch.delenv("TOKEN_JWKS_URL", raising=False)
    settings.reset()


@pytest.fixture
def hs256_with_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local mode (shared secret), told to check issuer and audience too."""
    monkeypatch.setenv("TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("TOKEN_AUDIENCE", AUDIENCE)
    settings.reset()


@pytest.fixture
def rs_token(rsa_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    def make(key: rsa.RSAPrivateKey | None = None, kid: str = "key-1", **changes: Any) -> str:
        return jwt.encode(_claims(**changes), key or rsa_key, algorithm="RS256", headers={"kid": kid})

    return make


def _hs(**changes: Any) -> str:
    return jwt.encode(_claims(**changes), os.environ["TOKEN_SECRET"], algorithm="HS256")


# ---- helpers ------------------------------------------------------------------------------------


def _call(gateway: Any, header: str | None) -> Any:
    headers = {"authorization": header} if header is not None else {}
    return gateway.get("/appointments", headers=headers)


def assert_refused(resp: Any, *secrets: str) -> None:
    """401 with exactly the JSON error of API.md: the same body for every kind of bad token."""
    assert resp.status == 401, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    assert resp.json == UNAUTHORIZED_BODY, resp
    for secret in (PID, OTHER_PID, *secrets):
        assert secret not in resp.text


def assert_accepted(resp: Any) -> None:
    assert resp.status == 200, resp
    assert resp.json == {"items": [], "next_cursor": None}


# ---- local mode (hs256, the default of the test environment) ------------------------------------


def test_hs256_valid_token_is_accepted(gateway: Any) -> None:
    assert_accepted(_call(gateway, f"Bearer {_hs()}"))


HS256_BAD: dict[str, Callable[[], str]] = {
    "expired": lambda: _hs(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "not-yet-valid": lambda: _hs(nbf=int(time.time()) + 3600, exp=int(time.time()) + 7200),
    "alg-none": lambda: _alg_none(_claims()),
    "tampered-payload": lambda: _tampered(_hs(), role="staff", orgs=["8100001"]),
    "tampered-sub": lambda: _tampered(_hs(), sub=OTHER_PID),
    "other-secret": lambda: jwt.encode(_claims(), "another-secret-that-is-long-enough-0123456789", "HS256"),
    "no-exp": lambda: _hs(exp=None),
}


@pytest.mark.parametrize("kind", sorted(HS256_BAD))
def test_hs256_bad_token_is_401(gateway: Any, kind: str) -> None:
    token = HS256_BAD[kind]()
    assert_refused(_call(gateway, f"Bearer {token}"), token)


def test_hs256_nbf_within_leeway_is_accepted(gateway: Any) -> None:
    assert_accepted(_call(gateway, f"Bearer {_hs(nbf=int(time.time()) + 20)}"))


@pytest.mark.usefixtures("hs256_with_issuer")
def test_hs256_checks_issuer_and_audience_when_configured(gateway: Any) -> None:
    assert_accepted(_call(gateway, f"Bearer {_hs()}"))
    for token in (_hs(iss="https://evil.example"), _hs(aud="another-service"), _hs(iss=None), _hs(aud=None)):
        assert_refused(_call(gateway, f"Bearer {token}"), token)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="bearer-only"),
        pytest.param("Bearer ", id="bearer-space"),
        pytest.param("Bearer garbage", id="garbage"),
        pytest.param("Bearer a.b.c", id="three-dots"),
        pytest.param("Bearer " + "x" * 20_000, id="huge"),
        pytest.param("Bearer eyJhbGciOiJIUzI1NiJ9.e30", id="two-parts"),
        pytest.param("Bearer \u00e6\u00f8\u00e5.\u00e6\u00f8\u00e5.\u00e6\u00f8\u00e5", id="non-ascii"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
    ],
)
def test_garbage_is_401(gateway: Any, header: str) -> None:
    assert_refused(_call(gateway, header))


def test_no_authorization_header_is_401(gateway: Any) -> None:
    assert_refused(_call(gateway, None))


def test_missing_bearer_scheme_is_401(gateway: Any) -> None:
    token = _hs()
    assert_refused(_call(gateway, token), token)


def test_other_scheme_with_a_valid_token_is_401(gateway: Any) -> None:
    token = _hs()
    assert_refused(_call(gateway, f"Token {token}"), token)


# ---- dev and prod mode (rs256 + JWKS) ----------------------------------------------------------


@pytest.mark.usefixtures("rs256")
def test_rs256_valid_token_from_the_jwks_is_accepted(gateway: Any, rs_token: Callable[..., str]) -> None:
    assert_accepted(_call(gateway, f"Bearer {rs_token()}"))


@pytest.mark.usefixtures("rs256")
def test_rs256_keys_are_cached(gateway: Any, rs_token: Callable[..., str], jwks_path: Path) -> None:
    """The JWKS is read once per TTL: a broken file after the first token changes nothing."""
    assert_accepted(_call(gateway, f"Bearer {rs_token()}"))
    saved = jwks_path.read_bytes()
    jwks_path.write_text("not json")
    try:
        assert_accepted(_call(gateway, f"Bearer {rs_token(sub=OTHER_PID)}"))
    finally:
        jwks_path.write_bytes(saved)


def _rs256_bad(kind: str, rs_token: Callable[..., str], rsa_key: rsa.RSAPrivateKey, other: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_jwk = json.dumps(RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)).encode()
    makers: dict[str, Callable[[], str]] = {
        "expired": lambda: rs_token(iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not-yet-valid": lambda: rs_token(nbf=now + 3600, exp=now + 7200),
        "wrong-issuer": lambda: rs_token(iss="https://evil.example"),
        "wrong-audience": lambda: rs_token(aud="another-service"),
        "no-issuer": lambda: rs_token(iss=None),
        "no-audience": lambda: rs_token(aud=None),
        "no-exp": lambda: rs_token(exp=None),
        "alg-none": lambda: _alg_none(_claims()),
        "hs256-with-public-pem": lambda: _hs256_with(public_pem, _claims(), kid="key-1"),
        "hs256-with-public-jwk": lambda: _hs256_with(public_jwk, _claims(), kid="key-1"),
        "hs256-with-local-secret": lambda: _hs(),
        "tampered-payload": lambda: _tampered(rs_token(), role="staff", orgs=["8100001"]),
        "tampered-sub": lambda: _tampered(rs_token(), sub=OTHER_PID),
        "other-key-same-kid": lambda: rs_token(key=other),
        "unknown-kid": lambda: rs_token(kid="key-2"),
    }
    return makers[kind]()


RS256_BAD = [
    "expired",
    "not-yet-valid",
    "wrong-issuer",
    "wrong-audience",
    "no-issuer",
    "no-audience",
    "no-exp",
    "alg-none",
    "hs256-with-public-pem",
    "hs256-with-public-jwk",
    "hs256-with-local-secret",
    "tampered-payload",
    "tampered-sub",
    "other-key-same-kid",
    "unknown-kid",
]


@pytest.mark.usefixtures("rs256")
@pytest.mark.parametrize("kind", RS256_BAD)
def test_rs256_bad_token_is_401(
    gateway: Any,
    rs_token: Callable[..., str],
    rsa_key: rsa.RSAPrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    kind: str,
) -> None:
    token = _rs256_bad(kind, rs_token, rsa_key, other_rsa_key)
    assert_refused(_call(gateway, f"Bearer {token}"), token)


@pytest.mark.usefixtures("rs256")
@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer a.b.c", "", "Basic dXNlcjpwYXNz"])
def test_rs256_garbage_is_401(gateway: Any, header: str) -> None:
    assert_refused(_call(gateway, header))


@pytest.mark.usefixtures("rs256")
def test_rs256_nbf_within_leeway_is_accepted(gateway: Any, rs_token: Callable[..., str]) -> None:
    assert_accepted(_call(gateway, f"Bearer {rs_token(nbf=int(time.time()) + 20)}"))
