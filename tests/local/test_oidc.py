"""The local OpenID provider (chalicelib/local/oidc.py): the code flow with PKCE, and what it refuses.

The API's own verifier (chalicelib/http/tokens.py, by JWKS) checks the provider's access token, as
the local stage does; the client's half (state, nonce) is proven in tests/browser/test_signin.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from chalicelib import clock
from chalicelib.http.tokens import TokenSettings, TokenVerifier
from chalicelib.local.oidc import CODE_SECONDS, PORTAL_CLIENT, OidcServer, Provider, ProviderError, s256
from tests.factories import make_pid

REDIRECT = "http://127.0.0.1:9/"
PEOPLE = [
    {"label": "Elise, innbygger", "claims": {"sub": make_pid(1), "role": "citizen", "name": "Elise"}},
    {
        "label": "Per, forelder",
        "claims": {
            "sub": make_pid(2),
            "role": "citizen",
            "name": "Per",
            "represents": [{"pid": make_pid(3), "name": "Ola"}],
        },
    },
]


@pytest.fixture
def provider() -> Provider:
    made = Provider("http://127.0.0.1:9003", PEOPLE)
    made.register(PORTAL_CLIENT, REDIRECT)
    return made


def authorization(**changes: str) -> tuple[dict[str, str], str]:
    """An authorization request as the portal makes it, and the verifier it keeps."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": PORTAL_CLIENT,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    return {**params, **changes}, verifier


def signed_in(provider: Provider, params: dict[str, str], person: int = 0) -> dict[str, str]:
    """The answer on the redirect back: {code, state, iss} or {error, state, iss}."""
    location = provider.decide(provider.authorize(params), person)
    assert location.startswith(REDIRECT + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def token_form(answer: dict[str, str], verifier: str, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "redirect_uri": REDIRECT,
        "client_id": PORTAL_CLIENT,
        "code_verifier": verifier,
    }
    return {**form, **changes}


def refused(provider: Provider, form: dict[str, str]) -> str:
    with pytest.raises(ProviderError) as caught:
        provider.exchange(form)
    return caught.value.error


def test_the_code_flow_gives_an_access_token_the_api_verifies_by_jwks(provider: Provider, tmp_path: Any) -> None:
    params, verifier = authorization()
    answer = signed_in(provider, params, person=1)
    assert answer["state"] == params["state"]  # round-tripped unchanged for the client to check
    assert answer["iss"] == provider.issuer  # RFC 9207: the client can tell which provider answered
    tokens = provider.exchange(token_form(answer, verifier))
    assert tokens["token_type"] == "Bearer"

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(provider.jwks()))
    settings = TokenSettings(mode="rs256", jwks_path=str(jwks), issuer=provider.issuer, audience=provider.audience)
    claims = TokenVerifier(settings).verify(tokens["access_token"])
    assert claims.sub == PEOPLE[1]["claims"]["sub"]
    assert claims.role == "citizen"
    assert [p.name for p in claims.represents] == ["Ola"]

    key = jwt.PyJWK(provider.jwks()["keys"][0]).key
    id_token = jwt.decode(tokens["id_token"], key, algorithms=["RS256"], audience=PORTAL_CLIENT, issuer=provider.issuer)
    assert id_token["nonce"] == params["nonce"]
    assert id_token["sub"] == PEOPLE[1]["claims"]["sub"]


def test_the_discovery_document_names_the_endpoints_and_pkce(provider: Provider) -> None:
    document = provider.discovery()
    assert document["issuer"] == "http://127.0.0.1:9003"
    assert document["jwks_uri"] == "http://127.0.0.1:9003/jwks"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    (key,) = provider.jwks()["keys"]
    assert (key["kty"], key["alg"], key["use"], key["kid"]) == ("RSA", "RS256", "sig", provider.kid)
    assert "d" not in key and "p" not in key  # the public half only


def test_a_wrong_verifier_is_refused(provider: Provider) -> None:
    params, _ = authorization()
    answer = signed_in(provider, params)
    assert refused(provider, token_form(answer, secrets.token_urlsafe(48))) == "invalid_grant"


def test_no_verifier_is_refused(provider: Provider) -> None:
    params, _ = authorization()
    answer = signed_in(provider, params)
    assert refused(provider, token_form(answer, "")) == "invalid_grant"


def test_a_replayed_code_is_refused(provider: Provider) -> None:
    params, verifier = authorization()
    answer = signed_in(provider, params)
    provider.exchange(token_form(answer, verifier))
    assert refused(provider, token_form(answer, verifier)) == "invalid_grant"


def test_a_code_is_gone_after_a_failed_attempt(provider: Provider) -> None:
    """A guessed verifier does not get a second try at the same code."""
    params, verifier = authorization()
    answer = signed_in(provider, params)
    refused(provider, token_form(answer, secrets.token_urlsafe(48)))
    assert refused(provider, token_form(answer, verifier)) == "invalid_grant"


def test_an_expired_code_is_refused(provider: Provider) -> None:
    params, verifier = authorization()
    answer = signed_in(provider, params)
    clock.advance(timedelta(seconds=CODE_SECONDS + 1))
    assert refused(provider, token_form(answer, verifier)) == "invalid_grant"


def test_a_code_for_another_redirect_uri_or_client_is_refused(provider: Provider) -> None:
    provider.register("other", "http://127.0.0.1:10/")
    params, verifier = authorization()
    answer = signed_in(provider, params)
    assert refused(provider, token_form(answer, verifier, redirect_uri="http://127.0.0.1:10/")) == "invalid_grant"
    answer = signed_in(provider, params)
    assert refused(provider, token_form(answer, verifier, client_id="other")) == "invalid_grant"


def test_an_unknown_code_and_grant_type_are_refused(provider: Provider) -> None:
    assert refused(provider, token_form({"code": "made-up"}, "x" * 43)) == "invalid_grant"
    params, verifier = authorization()
    answer = signed_in(provider, params)
    assert refused(provider, token_form(answer, verifier, grant_type="password")) == "unsupported_grant_type"


@pytest.mark.parametrize(
    "changes",
    [
        {"state": ""},  # a missing state: nothing for the client to tie the answer to
        {"state": "abc"},  # a guessable one
        {"nonce": ""},
        {"code_challenge": ""},
        {"code_challenge_method": "plain"},
        {"response_type": "token"},  # no token ever in a URL
        {"scope": "profile"},
        {"redirect_uri": "https://attacker.example/"},
        {"client_id": "unknown"},
    ],
)
def test_an_authorization_request_without_its_safeguards_is_refused(
    provider: Provider, changes: dict[str, str]
) -> None:
    params, _ = authorization(**changes)
    with pytest.raises(ProviderError):
        provider.authorize(params)


def test_cancel_answers_access_denied_with_the_state(provider: Provider) -> None:
    params, _ = authorization()
    answer = signed_in(provider, params, person=None)  # type: ignore[arg-type]
    assert answer == {"error": "access_denied", "state": params["state"], "iss": provider.issuer}


def test_a_pending_request_is_used_once(provider: Provider) -> None:
    params, _ = authorization()
    request_id = provider.authorize(params)
    provider.decide(request_id, 0)
    with pytest.raises(ProviderError):
        provider.decide(request_id, 0)


@pytest.fixture
def server() -> Iterator[OidcServer]:
    started = OidcServer("127.0.0.1", 0, PEOPLE)
    started.provider.register(PORTAL_CLIENT, REDIRECT)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_over_http_discovery_pick_page_redirect_and_token(server: OidcServer) -> None:
    base = server.issuer
    document = requests.get(f"{base}/.well-known/openid-configuration", timeout=5).json()
    assert document["issuer"] == base
    assert requests.get(document["jwks_uri"], timeout=5).json()["keys"][0]["kid"] == server.provider.kid

    params, verifier = authorization()
    page = requests.get(document["authorization_endpoint"], params=params, timeout=5)
    assert page.status_code == 200 and "Elise, innbygger" in page.text
    assert "form-action 'self' http://127.0.0.1:9" in page.headers["Content-Security-Policy"]
    request_id = page.text.split('name="request" value="')[1].split('"')[0]
    back = requests.post(
        f"{base}/authorize",
        data={"request": request_id, "person": "0", "decision": "allow"},
        allow_redirects=False,
        timeout=5,
    )
    assert back.status_code == 303
    answer = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}
    assert answer["state"] == params["state"]

    form = token_form(answer, verifier)
    headers = {"Origin": "http://127.0.0.1:9"}
    tokens = requests.post(document["token_endpoint"], data=form, headers=headers, timeout=5)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:9"
    assert tokens.headers["Cache-Control"] == "no-store"
    replay = requests.post(
        document["token_endpoint"], data=form, headers={"Origin": "https://attacker.example"}, timeout=5
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "Access-Control-Allow-Origin" not in replay.headers  # another origin's page cannot read it


def test_over_http_a_bad_request_is_shown_not_redirected(server: OidcServer) -> None:
    params, _ = authorization(redirect_uri="https://attacker.example/")
    page = requests.get(f"{server.issuer}/authorize", params=params, allow_redirects=False, timeout=5)
    assert page.status_code == 400 and "Location" not in page.headers
