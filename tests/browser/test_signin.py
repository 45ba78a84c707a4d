"""Sign-in in a real browser (issue 18): a link cannot sign anybody in; the code flow with PKCE can.

A planted `#/innlogget#access_token=…` link (a valid token of the API's own issuer) and a planted
`?code=…&state=…` callback (a real, unused code of the attacker's, with the attacker's state) both
leave the tab signed out; the normal flow through the local OpenID provider signs the demo citizen
in, and the code and state leave the address bar. Booking after this sign-in is what
tests/browser/test_portal.py walks through (its `_sign_in` goes through the provider too).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from chalicelib.local.demo import DEMO_CITIZEN_PID
from tests.browser.conftest import Live, check_page, new_page
from tests.live import WAIT_SECONDS

pytestmark = pytest.mark.browser

ELISE = {"sub": DEMO_CITIZEN_PID, "role": "citizen", "name": "Elise"}
MALLORY = "Per, forelder med to barn"  # the attacker signs in as himself at the provider


def _issuer(live: Live) -> str:
    return str(requests.get(f"{live.portal}/config.json", timeout=WAIT_SECONDS).json()["sign_in"]["issuer"])


def _stored_token(page: Any) -> Any:
    return page.evaluate("sessionStorage.getItem('timebok.token')")


def _watch(page: Any) -> list[str]:
    """What the tab sends: every request with a bearer token, and every call to the token endpoint."""
    seen: list[str] = []

    def record(request: Any) -> None:
        if request.headers.get("authorization") or request.url.endswith("/token"):
            seen.append(f"{request.method} {request.url}")

    page.on("request", record)
    return seen


def _attackers_code(live: Live) -> dict[str, str]:
    """A real code for the portal's redirect URI, got by the attacker with his own state and verifier."""
    issuer = _issuer(live)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": "timebok-portal",
        "redirect_uri": f"{live.portal}/",
        "scope": "openid profile",
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = requests.get(f"{issuer}/authorize", params=params, timeout=WAIT_SECONDS)
    page.raise_for_status()
    request_id = re.search(r'name="request" value="([^"]+)"', page.text)
    assert request_id
    back = requests.post(
        f"{issuer}/authorize",
        data={"request": request_id.group(1), "person": "1", "decision": "allow"},
        allow_redirects=False,
        timeout=WAIT_SECONDS,
    )
    assert back.status_code == 303
    return {name: values[0] for name, values in parse_qs(urlsplit(back.headers["Location"]).query).items()}


def _assert_signed_out(page: Any, seen: list[str]) -> None:
    assert _stored_token(page) is None
    assert seen == []  # no bearer token sent anywhere, no code exchanged
    page.locator("#who").get_by_role("link", name="Logg inn").wait_for()
    page.goto(page.url.split("#")[0] + "#/timeavtaler")
    page.get_by_text("Du må logge inn for å se dette.").wait_for()
    assert _stored_token(page) is None and seen == []


def test_a_planted_token_link_signs_nobody_in(live: Live, browser: Any) -> None:
    token = live.token(ELISE)  # a token the API itself would accept
    page = new_page(browser)
    seen = _watch(page)
    page.goto(f"{live.portal}/#/innlogget#access_token={token}")
    page.get_by_role("heading", name="Logg inn", level=1).wait_for()
    assert "access_token" not in page.url
    _assert_signed_out(page, seen)
    assert not page.errors, page.errors


def test_a_planted_callback_with_a_state_the_tab_never_issued_signs_nobody_in(live: Live, browser: Any) -> None:
    answer = _attackers_code(live)
    page = new_page(browser)
    seen = _watch(page)
    page.goto(f"{live.portal}/?code={answer['code']}&state={answer['state']}&iss={answer['iss']}")
    page.get_by_role("heading", name="Innloggingen ble ikke fullført").wait_for()
    assert "code=" not in page.url and "state=" not in page.url  # gone from the address bar at once
    check_page(page, "signin-refused")
    _assert_signed_out(page, seen)


def test_a_planted_callback_during_the_tabs_own_sign_in_is_refused(live: Live, browser: Any) -> None:
    """The tab has a state of its own waiting; another one is still refused (and the wait ends)."""
    answer = _attackers_code(live)
    page = new_page(browser)
    seen = _watch(page)
    page.goto(f"{live.portal}/#/logg-inn")
    page.get_by_role("button", name="Logg inn").click()
    page.get_by_role("heading", name="Lokal testinnlogging").wait_for()  # at the provider, state kept
    page.goto(f"{live.portal}/?code={answer['code']}&state={answer['state']}")
    page.get_by_role("heading", name="Innloggingen ble ikke fullført").wait_for()
    assert page.evaluate("sessionStorage.getItem('timebok.signin')") is None
    _assert_signed_out(page, seen)


def test_cancelling_at_the_provider_signs_nobody_in(live: Live, browser: Any) -> None:
    page = new_page(browser)
    seen = _watch(page)
    page.goto(f"{live.portal}/#/logg-inn")
    page.get_by_role("button", name="Logg inn").click()
    page.get_by_role("button", name="Avbryt").click()
    page.get_by_role("heading", name="Innloggingen ble ikke fullført").wait_for()
    assert "error=" not in page.url and "state=" not in page.url
    _assert_signed_out(page, seen)


def test_the_code_flow_signs_the_demo_citizen_in(live: Live, browser: Any) -> None:
    issuer = _issuer(live)
    page = new_page(browser)
    page.goto(f"{live.portal}/#/logg-inn?neste=%23%2Ftimeavtaler")
    page.get_by_role("heading", name="Logg inn", level=1).wait_for()
    check_page(page, "signin-portal")
    page.get_by_role("button", name="Logg inn").click()
    page.get_by_role("heading", name="Lokal testinnlogging").wait_for()
    sent = parse_qs(urlsplit(page.url).query)
    assert sent["code_challenge_method"] == ["S256"] and sent["response_type"] == ["code"]
    assert len(sent["state"][0]) >= 32 and len(sent["nonce"][0]) >= 32
    check_page(page, "signin-provider")
    page.get_by_label("Elise, innbygger").check()
    page.get_by_role("button", name="Logg inn").click()

    page.get_by_role("heading", name="Timeavtaler", level=1).wait_for()
    page.get_by_text("Logget inn som Elise").wait_for()
    assert urlsplit(page.url).query == "" and page.url.endswith("#/timeavtaler")
    token = _stored_token(page)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (claims["iss"], claims["sub"], claims["role"]) == (issuer, DEMO_CITIZEN_PID, "citizen")
    assert page.evaluate("sessionStorage.getItem('timebok.signin')") is None  # the state is spent
    # The API accepts it (verified by the provider's JWKS).
    assert live.get("/appointments", token)["items"] is not None
    assert not page.errors, page.errors
