"""The KRR client (messaging/krr.py) against the local stand-in (chalicelib/local/krr.py), the
Maskinporten grant, and `GET /dev/sms` on the real `make run` stack."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import settings
from chalicelib.local.demo import DEMO_CITIZEN_PID, DEMO_PARENT_PID, DEMO_STAFF_PID
from chalicelib.local.krr import ELISE_MOBILE, LOCAL_TOKEN, KrrStandin
from chalicelib.messaging import krr
from tests.factories import make_phone, make_pid
from tests.live import WAIT_SECONDS, local_stack


class Token:
    def __init__(self, value: str = LOCAL_TOKEN) -> None:
        self.value = value

    def token(self) -> str:
        return self.value


@pytest.fixture(scope="module")
def standin() -> Iterator[KrrStandin]:
    server = KrrStandin(0)
    server.start()
    yield server
    server.stop()


def test_the_demo_citizens_as_the_register_answers(standin: KrrStandin) -> None:
    unknown = make_pid(4711)
    found = krr.lookup([DEMO_CITIZEN_PID, DEMO_PARENT_PID, DEMO_STAFF_PID, unknown], Token(), standin.url)
    assert found[DEMO_CITIZEN_PID].sms_number == ELISE_MOBILE
    assert found[DEMO_PARENT_PID].reserved and found[DEMO_PARENT_PID].sms_number is None
    assert found[DEMO_STAFF_PID].status == "AKTIV" and found[DEMO_STAFF_PID].sms_number is None  # e-mail only
    assert found[unknown].status == "IKKE_REGISTRERT" and found[unknown].sms_number is None


@pytest.mark.parametrize(
    "authorization, body, status",
    [
        ("", {"personidentifikatorer": [DEMO_CITIZEN_PID]}, 401),  # no token
        ("Bearer wrong", {"personidentifikatorer": [DEMO_CITIZEN_PID]}, 401),
        (f"Bearer {LOCAL_TOKEN}", {"personidentifikator": DEMO_CITIZEN_PID}, 400),  # wrong shape
        (f"Bearer {LOCAL_TOKEN}", {"personidentifikatorer": []}, 400),
        (f"Bearer {LOCAL_TOKEN}", {"personidentifikatorer": [make_pid(n) for n in range(1001)]}, 400),
        (f"Bearer {LOCAL_TOKEN}", {"personidentifikatorer": ["123"]}, 400),
        (f"Bearer {LOCAL_TOKEN}", ["not", "an", "object"], 400),
    ],
    ids=["no-token", "wrong-token", "shape", "none", "1001", "not-an-id", "list"],
)
def test_the_standin_is_strict(standin: KrrStandin, authorization: str, body: Any, status: int) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.post(standin.url, json=body, headers=headers, timeout=WAIT_SECONDS)
    assert answer.status_code == status
    assert "error" in answer.json()
    assert requests.get(standin.url, timeout=WAIT_SECONDS).status_code == 405


def test_the_client_refuses_what_the_register_would_and_reports_it_down(standin: KrrStandin) -> None:
    with pytest.raises(ValueError):
        krr.lookup([make_pid(n) for n in range(1001)], Token(), standin.url)
    with pytest.raises(ValueError):
        krr.lookup([], Token(), standin.url)
    with pytest.raises(krr.KrrUnavailable, match="401"):
        krr.lookup([DEMO_CITIZEN_PID], Token("stale"), standin.url)
    with pytest.raises(krr.KrrUnavailable, match="unreachable"):
        krr.lookup([DEMO_CITIZEN_PID], Token(), "http://127.0.0.1:9/rest/v1/personer")  # nobody listens


def test_a_thousand_at_once(standin: KrrStandin) -> None:
    many = [make_pid(n) for n in range(999)] + [DEMO_CITIZEN_PID]
    found = krr.lookup(many, Token(), standin.url)
    assert len(found) == 1000 and found[DEMO_CITIZEN_PID].sms_number == ELISE_MOBILE


def test_maskinporten_jwt_grant_and_the_token_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    monkeypatch.setenv("MASKINPORTEN_CLIENT_ID", "client-123")
    monkeypatch.setenv("MASKINPORTEN_KEY_ID", "kid-1")
    monkeypatch.setenv("MASKINPORTEN_TOKEN_URL", "https://test.maskinporten.no/token")
    monkeypatch.setenv("MASKINPORTEN_AUDIENCE", "https://test.maskinporten.no/")
    settings.reset(caches=False)
    asked: list[dict[str, Any]] = []

    class Answer:
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: Any) -> None:
            pass

        def read(self) -> bytes:
            return json.dumps({"access_token": "at-1", "expires_in": 119, "scope": krr.SCOPE}).encode()

    def urlopen(request: Any, timeout: float) -> Answer:
        form = urllib.parse.parse_qs(request.data.decode())
        asked.append({"url": request.full_url, **{k: v[0] for k, v in form.items()}})
        return Answer()

    monkeypatch.setattr(krr.urllib.request, "urlopen", urlopen)
    provider = krr.MaskinportenToken(private_key=pem)
    assert provider.token() == "at-1" and provider.token() == "at-1"
    (call,) = asked  # kept until shortly before it expires
    assert call["url"] == "https://test.maskinporten.no/token"
    assert call["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert jwt.get_unverified_header(call["assertion"])["kid"] == "kid-1"
    claims = jwt.decode(
        call["assertion"], key.public_key(), algorithms=["RS256"], audience="https://test.maskinporten.no/"
    )
    assert claims["iss"] == "client-123" and claims["scope"] == "krr:global/kontaktinformasjon.read"
    assert 0 < claims["exp"] - claims["iat"] <= 120 and claims["jti"]


def test_maskinporten_unconfigured_is_unavailable_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASKINPORTEN_CLIENT_ID", raising=False)
    settings.reset(caches=False)
    with pytest.raises(krr.KrrUnavailable):
        krr.MaskinportenToken(private_key="x").token()


# ---- GET /dev/sms on the live stack ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[str]:
    with local_stack(demo=False, start_seconds=120) as url:
        yield url


def _confirmed_for(url: str, pid: str, her_id: str) -> str:
    """A request in a new timebook, confirmed by staff; returns once its inbox message is there
    (the local consumer writes it, then decides the SMS, in one call)."""
    from tests.race.test_race_http import _post, _staff, _timebook, _token

    _, _, (slot_id,) = _timebook(url, her_id, places=(1, 1), requires_confirmation=True)
    citizen = _token(url, {"sub": pid, "role": "citizen", "name": "C"})
    made = _post(url, "/appointments", {"slot_id": slot_id, "phone": make_phone(7), "answers": {}}, citizen)
    assert made.status_code == 201, made.text
    appointment_id = str(made.json()["id"])
    assert _post(url, f"/admin/appointments/{appointment_id}/confirm", {}, _staff(url, her_id)).status_code == 200
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        inbox = requests.get(
            f"{url}/inbox", headers={"Authorization": f"Bearer {citizen}"}, timeout=WAIT_SECONDS
        ).json()
        if any(m["appointment_id"] == appointment_id and m["kind"] == "confirmed" for m in inbox["items"]):
            return appointment_id
        time.sleep(0.3)
    raise AssertionError("the confirmation never reached the inbox")


def test_dev_sms_lists_the_sms_krr_allows(live: str) -> None:
    per = _confirmed_for(live, DEMO_PARENT_PID, "7302")  # reserved against digital contact
    elise = _confirmed_for(live, DEMO_CITIZEN_PID, "7301")
    deadline = time.monotonic() + WAIT_SECONDS
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        items = requests.get(f"{live}/dev/sms", timeout=WAIT_SECONDS).json()["items"]
        if any(item["appointment_id"] == elise for item in items):
            break
        time.sleep(0.3)
    # The one consumer thread finished Per's message before it took Elise's (confirmed after it).
    assert [item for item in items if item["appointment_id"] == per] == []
    (mine,) = [item for item in items if item["appointment_id"] == elise]
    assert mine["to"] == ELISE_MOBILE and "bekreftet" in mine["body"] and mine["sent_at"]
    assert DEMO_CITIZEN_PID not in json.dumps(items)


def test_the_production_path_maskinporten_then_krr_against_the_standin(monkeypatch: pytest.MonkeyPatch) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    server = KrrStandin(0, maskinporten_key=key.public_key(), audience="https://test.maskinporten.no/")
    server.start()
    try:
        monkeypatch.setenv("MASKINPORTEN_CLIENT_ID", "client-123")
        monkeypatch.setenv("MASKINPORTEN_KEY_ID", "kid-1")
        monkeypatch.setenv("MASKINPORTEN_TOKEN_URL", server.token_url)
        monkeypatch.setenv("MASKINPORTEN_AUDIENCE", "https://test.maskinporten.no/")
        settings.reset(caches=False)
        found = krr.lookup([DEMO_CITIZEN_PID], krr.MaskinportenToken(private_key=pem), server.url)
        assert found[DEMO_CITIZEN_PID].sms_number == ELISE_MOBILE

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        stranger = other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with pytest.raises(krr.KrrUnavailable, match="Maskinporten answered 400"):
            krr.lookup([DEMO_CITIZEN_PID], krr.MaskinportenToken(private_key=stranger), server.url)
        monkeypatch.setenv("MASKINPORTEN_AUDIENCE", "https://maskinporten.no/")  # production's, not the test's
        settings.reset(caches=False)
        with pytest.raises(krr.KrrUnavailable, match="Maskinporten answered 400"):
            krr.MaskinportenToken(private_key=pem).token()
    finally:
        server.stop()
