"""Tests for portal JWT verification and issuing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chalicelib import clock
from chalicelib.http.tokens import (
    Claims,
    InvalidToken,
    TokenSettings,
    TokenVerifier,
    issue_token,
)
from tests.factories import make_pid

SECRET = "test-secret-that-is-at-least-32-bytes-long"
ISSUER = "https://idp.test.example"
AUDIENCE = "timebok-api"
PID = make_pid(1)
CHILD_PID = make_pid(2)


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": PID,
        "role": "citizen",
        "name": "Kari Nordmann",
        "represents": [{"pid": CHILD_PID, "name": "Ola Nordmann"}],
    }
    claims.update(overrides)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _registered(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    registered: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    registered.update(overrides)
    return {k: v for k, v in registered.items() if v is not None}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(*keys: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    entries = []
    for kid, key in keys:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        entries.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": entries}


@pytest.fixture
def jwks_path(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(_jwks(("key-1", rsa_key))))
    return path


@pytest.fixture
def rs_settings(jwks_path: Path) -> TokenSettings:
    return TokenSettings(
        mode="rs256", secret=None, jwks_path=str(jwks_path), jwks_url=None,
        issuer=ISSUER, audience=AUDIENCE,
    )  # fmt: skip


@pytest.fixture
def rs_verifier(rs_settings: TokenSettings) -> TokenVerifier:
    return TokenVerifier(rs_settings)


@pytest.fixture
def hs_verifier() -> TokenVerifier:
    return TokenVerifier(TokenSettings(mode="hs256", secret=SECRET))


@pytest.fixture
def rs_token(rsa_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    def make(
        claims: dict[str, Any] | None = None,
        kid: str | None = "key-1",
        key: rsa.RSAPrivateKey | None = None,
        **registered: Any,
    ) -> str:
        payload = {**(claims if claims is not None else _claims()), **_registered(**registered)}
        headers = {"kid": kid} if kid is not None else None
        return jwt.encode(payload, key or rsa_key, algorithm="RS256", headers=headers)

    return make


def _assert_invalid(verifier: TokenVerifier, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    message = str(info.value)
    assert PID not in message and CHILD_PID not in message
    assert token not in message or not token
    assert info.value.__cause__ is None
    return info.value


# ---------------------------------------------------------------- hs256


class TestHs256:
    def test_valid_token(self, hs_verifier: TokenVerifier) -> None:
        claims = hs_verifier.verify(issue_token(_claims(), SECRET))
        assert isinstance(claims, Claims)
        assert claims.sub == PID
        assert claims.role == "citizen"
        assert claims.name == "Kari Nordmann"
        assert claims.orgs == []
        assert claims.represents[0].pid == CHILD_PID
        assert claims.represents[0].name == "Ola Nordmann"

    def test_staff_with_orgs(self, hs_verifier: TokenVerifier) -> None:
        token = issue_token(_claims(role="staff", orgs=["8765432"], represents=[]), SECRET)
        claims = hs_verifier.verify(token)
        assert claims.role == "staff"
        assert claims.orgs == ["8765432"]
        assert claims.represents == []

    @pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", "BEARER  ", "  Bearer "])
    def test_bearer_prefix(self, hs_verifier: TokenVerifier, prefix: str) -> None:
        assert hs_verifier.verify(prefix + issue_token(_claims(), SECRET)).sub == PID

    def test_extra_claims_ignored(self, hs_verifier: TokenVerifier) -> None:
        token = issue_token(_claims(jti="abc", scope="x"), SECRET, issuer="i", audience="a")
        assert hs_verifier.verify(token).sub == PID

    def test_issuer_and_audience_checked_when_configured(self) -> None:
        verifier = TokenVerifier(TokenSettings(mode="hs256", secret=SECRET, issuer=ISSUER, audience=AUDIENCE))
        good = issue_token(_claims(), SECRET, issuer=ISSUER, audience=AUDIENCE)
        assert verifier.verify(good).sub == PID
        _assert_invalid(verifier, issue_token(_claims(), SECRET, issuer="x", audience=AUDIENCE))
        _assert_invalid(verifier, issue_token(_claims(), SECRET, issuer=ISSUER, audience="x"))
        _assert_invalid(verifier, issue_token(_claims(), SECRET))

    def test_expired(self, hs_verifier: TokenVerifier) -> None:
        error = _assert_invalid(hs_verifier, issue_token(_claims(), SECRET, ttl_seconds=-120))
        assert "expired" in str(error)

    def test_leeway_tolerates_small_clock_skew(self, hs_verifier: TokenVerifier) -> None:
        assert hs_verifier.verify(issue_token(_claims(), SECRET, ttl_seconds=-10)).sub == PID

    def test_missing_exp(self, hs_verifier: TokenVerifier) -> None:
        _assert_invalid(hs_verifier, jwt.encode(_claims(), SECRET, algorithm="HS256"))

    def test_wrong_secret(self, hs_verifier: TokenVerifier) -> None:
        _assert_invalid(hs_verifier, issue_token(_claims(), "another-secret-that-is-32-bytes-long!"))

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    def test_only_hs256(self, hs_verifier: TokenVerifier) -> None:
        payload = {**_claims(), "exp": int(time.time()) + 60}
        _assert_invalid(hs_verifier, jwt.encode(payload, SECRET, algorithm="HS512"))

    def test_rs256_token_rejected(self, hs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        _assert_invalid(hs_verifier, rs_token())

    def test_alg_none(self, hs_verifier: TokenVerifier) -> None:
        payload = {**_claims(), "exp": int(time.time()) + 60}
        _assert_invalid(hs_verifier, jwt.encode(payload, None, algorithm="none"))


# ---------------------------------------------------------------- rs256


class TestRs256:
    def test_valid_token(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        claims = rs_verifier.verify("Bearer " + rs_token())
        assert claims.sub == PID
        assert claims.represents[0].pid == CHILD_PID

    def test_expired(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        now = int(time.time())
        token = rs_token(iat=now - 3600, nbf=now - 3600, exp=now - 600)
        assert "expired" in str(_assert_invalid(rs_verifier, token))

    def test_not_yet_valid(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        token = rs_token(nbf=int(time.time()) + 600)
        assert "not yet valid" in str(_assert_invalid(rs_verifier, token))

    def test_nbf_within_leeway(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        assert rs_verifier.verify(rs_token(nbf=int(time.time()) + 20)).sub == PID

    def test_wrong_issuer(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        error = _assert_invalid(rs_verifier, rs_token(iss="https://evil.example"))
        assert "issuer" in str(error)

    def test_wrong_audience(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        error = _assert_invalid(rs_verifier, rs_token(aud="some-other-api"))
        assert "audience" in str(error)

    @pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
    def test_required_registered_claims(
        self, rs_verifier: TokenVerifier, rs_token: Callable[..., str], claim: str
    ) -> None:
        _assert_invalid(rs_verifier, rs_token(**{claim: None}))

    def test_alg_none(self, rs_verifier: TokenVerifier) -> None:
        payload = {**_claims(), **_registered()}
        token = jwt.encode(payload, None, algorithm="none", headers={"kid": "key-1"})
        assert "algorithm" in str(_assert_invalid(rs_verifier, token))

    def test_hs256_signed_with_public_key_pem(self, rs_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
        """The classic algorithm-confusion attack: the public key used as an HMAC secret."""
        pem = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
        payload = _b64(json.dumps({**_claims(role="staff"), **_registered()}).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = _b64(hmac.new(pem, signing_input, hashlib.sha256).digest())
        _assert_invalid(rs_verifier, f"{header}.{payload}.{signature}")

    def test_tampered_payload(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        header, _, signature = rs_token().split(".")
        forged = _b64(json.dumps({**_claims(role="staff"), **_registered()}).encode())
        error = _assert_invalid(rs_verifier, f"{header}.{forged}.{signature}")
        assert "signature" in str(error)

    def test_signed_by_other_key_with_known_kid(
        self,
        rs_verifier: TokenVerifier,
        rs_token: Callable[..., str],
        other_rsa_key: rsa.RSAPrivateKey,
    ) -> None:
        _assert_invalid(rs_verifier, rs_token(key=other_rsa_key))

    @pytest.mark.parametrize(
        "garbage",
        ["", "   ", "Bearer ", "garbage", "a.b.c", "a.b", "....", "x" * 20_000, "Bearer a.b.c"],
    )
    def test_garbage(self, rs_verifier: TokenVerifier, garbage: str) -> None:
        _assert_invalid(rs_verifier, garbage)

    def test_not_a_string(self, rs_verifier: TokenVerifier) -> None:
        with pytest.raises(InvalidToken):
            rs_verifier.verify(None)  # type: ignore[arg-type]

    def test_unknown_kid(
        self,
        rs_verifier: TokenVerifier,
        rs_token: Callable[..., str],
        other_rsa_key: rsa.RSAPrivateKey,
    ) -> None:
        error = _assert_invalid(rs_verifier, rs_token(kid="unknown", key=other_rsa_key))
        assert "signing key" in str(error)

    def test_missing_kid(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        _assert_invalid(rs_verifier, rs_token(kid=None))

    def test_bad_role(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        error = _assert_invalid(rs_verifier, rs_token(_claims(role="admin")))
        assert "claims" in str(error)

    def test_sub_with_invalid_check_digits(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        bad = PID[:9] + str((int(PID[9]) + 1) % 10) + PID[10]
        _assert_invalid(rs_verifier, rs_token(_claims(sub=bad)))

    def test_represented_pid_invalid(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str]) -> None:
        claims = _claims(represents=[{"pid": "12345678901", "name": "X"}])
        _assert_invalid(rs_verifier, rs_token(claims))

    @pytest.mark.parametrize("missing", ["sub", "role", "name"])
    def test_missing_portal_claim(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str], missing: str) -> None:
        claims = _claims()
        del claims[missing]
        _assert_invalid(rs_verifier, rs_token(claims))


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The clock of PyJWKClient's JWKS cache and refresh cooldown (time.monotonic in PyJWT), moved by hand."""
    from jwt import api_jwk, jwk_set_cache, jwks_client

    now = [1000.0]
    clock = SimpleNamespace(monotonic=lambda: now[0], time=time.time)
    for module in (api_jwk, jwk_set_cache, jwks_client):
        monkeypatch.setattr(module, "time", clock)
    return now


class TestJwksCache:
    def test_keys_are_cached(self, rs_verifier: TokenVerifier, rs_token: Callable[..., str], jwks_path: Path) -> None:
        assert rs_verifier.verify(rs_token()).sub == PID
        jwks_path.unlink()
        assert rs_verifier.verify(rs_token()).sub == PID

    def test_unknown_kid_triggers_one_refresh(
        self,
        now: list[float],
        rs_settings: TokenSettings,
        rs_token: Callable[..., str],
        jwks_path: Path,
        rsa_key: rsa.RSAPrivateKey,
        other_rsa_key: rsa.RSAPrivateKey,
    ) -> None:
        verifier = TokenVerifier(rs_settings)
        assert verifier.verify(rs_token()).sub == PID
        # The provider rotates in a new key.
        jwks_path.write_text(json.dumps(_jwks(("key-1", rsa_key), ("key-2", other_rsa_key))))
        new_token = rs_token(kid="key-2", key=other_rsa_key)
        now[0] += 60
        assert verifier.verify(new_token).sub == PID

    def test_refresh_is_throttled(
        self,
        now: list[float],
        rs_settings: TokenSettings,
        rs_token: Callable[..., str],
        jwks_path: Path,
        rsa_key: rsa.RSAPrivateKey,
        other_rsa_key: rsa.RSAPrivateKey,
    ) -> None:
        verifier = TokenVerifier(rs_settings)
        verifier.verify(rs_token())
        jwks_path.write_text(json.dumps(_jwks(("key-1", rsa_key), ("key-2", other_rsa_key))))
        new_token = rs_token(kid="key-2", key=other_rsa_key)
        _assert_invalid(verifier, new_token)  # just loaded: no immediate re-read
        now[0] += 31
        assert verifier.verify(new_token).sub == PID

    def test_stale_keys_kept_when_reload_fails(
        self, now: list[float], rs_settings: TokenSettings, rs_token: Callable[..., str], jwks_path: Path
    ) -> None:
        verifier = TokenVerifier(rs_settings)
        verifier.verify(rs_token())
        jwks_path.write_text("not json")
        now[0] += 3600
        assert verifier.verify(rs_token()).sub == PID

    def test_jwks_unavailable(self, tmp_path: Path, rs_token: Callable[..., str]) -> None:
        settings = TokenSettings(
            mode="rs256", secret=None, jwks_path=str(tmp_path / "missing.json"),
            jwks_url=None, issuer=ISSUER, audience=AUDIENCE,
        )  # fmt: skip
        error = _assert_invalid(TokenVerifier(settings), rs_token())
        assert "unavailable" in str(error)

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    def test_short_and_foreign_keys_skipped(
        self, jwks_path: Path, rs_settings: TokenSettings, rs_token: Callable[..., str]
    ) -> None:
        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        document = _jwks(("weak", weak))
        document["keys"].append({"kty": "oct", "kid": "sym", "k": _b64(SECRET.encode())})
        jwks_path.write_text(json.dumps(document))
        verifier = TokenVerifier(rs_settings)
        error = _assert_invalid(verifier, rs_token(kid="weak", key=weak))
        assert "unavailable" in str(error)


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[tuple[str, list[int]]]:
    """Serve a JWKS on 127.0.0.1 and count the requests."""
    body = json.dumps(_jwks(("key-1", rsa_key))).encode()
    hits = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks", hits
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_from_url_is_fetched_once(
    jwks_server: tuple[str, list[int]], rs_token: Callable[..., str], other_rsa_key: rsa.RSAPrivateKey
) -> None:
    url, hits = jwks_server
    settings = TokenSettings(mode="rs256", secret=None, jwks_path=None, jwks_url=url, issuer=ISSUER, audience=AUDIENCE)
    verifier = TokenVerifier(settings)
    assert verifier.verify(rs_token()).sub == PID
    assert verifier.verify(rs_token()).sub == PID
    assert hits[0] == 1
    _assert_invalid(verifier, rs_token(kid="unknown", key=other_rsa_key))
    assert hits[0] == 1  # refresh throttled right after the first load


# ---------------------------------------------------------------- settings and issuing


class TestSettings:
    def test_from_env_defaults_to_hs256(self) -> None:
        settings = TokenSettings.from_env({"TOKEN_SECRET": SECRET})
        assert settings == TokenSettings(mode="hs256", secret=SECRET)
        assert settings.leeway_seconds == 60

    def test_from_env_rs256(self) -> None:
        settings = TokenSettings.from_env(
            {
                "TOKEN_MODE": "RS256",
                "TOKEN_JWKS_URL": "https://idp.test.example/jwks",
                "TOKEN_ISSUER": ISSUER,
                "TOKEN_AUDIENCE": AUDIENCE,
                "TOKEN_LEEWAY_SECONDS": "30",
                "TOKEN_SECRET": "",
            }
        )
        assert settings.mode == "rs256"
        assert settings.jwks_url == "https://idp.test.example/jwks"
        assert settings.secret is None
        assert settings.leeway_seconds == 30

    @pytest.mark.parametrize(
        "environ",
        [
            {},
            {"TOKEN_SECRET": "short"},
            {"TOKEN_MODE": "HS512", "TOKEN_SECRET": SECRET},
            {"TOKEN_SECRET": SECRET, "TOKEN_LEEWAY_SECONDS": "soon"},
            {"TOKEN_SECRET": SECRET, "TOKEN_LEEWAY_SECONDS": "-1"},
            {"TOKEN_MODE": "rs256", "TOKEN_JWKS_PATH": "/x", "TOKEN_ISSUER": ISSUER},
            {"TOKEN_MODE": "rs256", "TOKEN_ISSUER": ISSUER, "TOKEN_AUDIENCE": AUDIENCE},
            {
                "TOKEN_MODE": "rs256",
                "TOKEN_JWKS_URL": "http://idp.example/jwks",
                "TOKEN_ISSUER": ISSUER,
                "TOKEN_AUDIENCE": AUDIENCE,
            },
        ],
    )
    def test_misconfiguration_fails_fast(self, environ: dict[str, str]) -> None:
        with pytest.raises((ValueError, TypeError)):
            TokenSettings.from_env(environ)


class TestIssueToken:
    def test_adds_iat_exp_iss_aud(self) -> None:
        token = issue_token({"sub": PID}, SECRET, ttl_seconds=120, issuer=ISSUER, audience=AUDIENCE)
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
        assert header["alg"] == "HS256"
        assert payload["exp"] - payload["iat"] == 120
        assert payload["iss"] == ISSUER
        assert payload["aud"] == AUDIENCE

    def test_rejects_short_secret(self) -> None:
        with pytest.raises(ValueError):
            issue_token(_claims(), "short")


@pytest.mark.parametrize("moved", [timedelta(days=-1), timedelta(hours=25)])
def test_tokens_keep_the_real_clock_when_a_test_moves_time(hs_verifier: TokenVerifier, moved: timedelta) -> None:
    """PyJWT verifies on the real clock, so tokens are issued on it too: a token made before or
    after `clock.advance()` stays valid (tests move time past holds and deadlines, not tokens)."""
    before = issue_token(_claims(), SECRET)
    clock.advance(moved)
    after = issue_token(_claims(), SECRET)
    assert hs_verifier.verify(before).sub == hs_verifier.verify(after).sub == PID
