"""`make run`'s stand-ins for word by SMS: the contact register (KRR) and the SMS capture.

KRR: `POST /rest/v1/personer` on 127.0.0.1:$KRR_PORT (default PORT+4), as strict as Digdir's
lookup: a bearer token (the stand-in's, KRR_STATIC_TOKEN), a JSON object with
`personidentifikatorer`, 1 to 1000 eleven-digit ids; anything else is 400 or 401. It knows the
demo citizens only (chalicelib/local/demo.py): Elise with a mobile number, not reserved; Per
reserved against digital contact; Sara registered with an e-mail address and no mobile number.
Everyone else is IKKE_REGISTRERT, as the register answers for a person it does not know.

SMS: moto's SNS keeps what was published to a phone number; `captured()` lists it for the
local-only `GET /dev/sms`, with the appointment and time from the SMS marks.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.local.demo import DEMO_CITIZEN_PID, DEMO_PARENT_PID, DEMO_STAFF_PID

LOCAL_TOKEN = "local-krr-token"  # the stand-in's bearer token (KRR_TOKEN_PROVIDER=static)
PATH = "/rest/v1/personer"
TOKEN_PATH = "/token"  # Maskinporten's, when the stand-in plays it too
MAX_IDS = 1000
ELISE_MOBILE = "+4791234567"  # synthetic
PER_MOBILE = "+4791234568"
_PID = re.compile(r"^\d{11}$")

DEMO_PEOPLE: dict[str, dict[str, Any]] = {
    DEMO_CITIZEN_PID: {
        "reservasjon": "NEI",
        "status": "AKTIV",
        "varslingsstatus": "KAN_VARSLES",
        "kontaktinformasjon": {
            "mobiltelefonnummer": ELISE_MOBILE,
            "mobiltelefonnummer_oppdatert": "2025-01-10T10:00:00+01",
            "epostadresse": "elise@example.no",
        },
    },
    DEMO_PARENT_PID: {
        "reservasjon": "JA",
        "reservasjonstidspunkt": "2024-06-13T13:42:34+02",
        "status": "AKTIV",
        "varslingsstatus": "KAN_IKKE_VARSLES",
        "kontaktinformasjon": {"mobiltelefonnummer": PER_MOBILE},
    },
    DEMO_STAFF_PID: {
        "reservasjon": "NEI",
        "status": "AKTIV",
        "varslingsstatus": "KAN_VARSLES",
        "kontaktinformasjon": {"epostadresse": "sara@example.no"},
    },
}


def answer(authorization: str, body: bytes, token: str, people: Mapping[str, Mapping[str, Any]]) -> tuple[int, Any]:
    """(status, JSON) of one lookup, as strict as the register."""
    if authorization != f"Bearer {token}":
        return 401, {"error": "invalid_token", "error_description": "a valid bearer token is required"}
    try:
        request = json.loads(body.decode())
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "bad_request", "error_description": "the body is not JSON"}
    ids = request.get("personidentifikatorer") if isinstance(request, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_IDS:
        return 400, {"error": "bad_request", "error_description": f"personidentifikatorer: 1 to {MAX_IDS} ids"}
    if not all(isinstance(pid, str) and _PID.match(pid) for pid in ids):
        return 400, {"error": "bad_request", "error_description": "personidentifikatorer: 11 digits each"}
    found = [
        {"personidentifikator": pid, **people[pid]}
        if pid in people
        else {"personidentifikator": pid, "status": "IKKE_REGISTRERT"}
        for pid in dict.fromkeys(ids)
    ]
    return 200, {"personer": found}


def grant_answer(form: Mapping[str, str], public_key: Any, audience: str) -> tuple[int, dict[str, Any]]:
    """(status, JSON) of Maskinporten's /token for a JWT grant: RS256 by the client's key, this
    audience, the KRR scope, at most 120 s long (docs/sms.md)."""
    import jwt

    from chalicelib.messaging.krr import SCOPE

    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not form.get("assertion"):
        return 400, {"error": "invalid_request", "error_description": "a JWT bearer grant is required"}
    try:
        claims = jwt.decode(
            form["assertion"], public_key, algorithms=["RS256"], audience=audience, options={"require": ["exp", "iat"]}
        )
    except jwt.PyJWTError as error:
        return 400, {"error": "invalid_grant", "error_description": f"Invalid assertion ({type(error).__name__})"}
    if SCOPE not in str(claims.get("scope", "")).split() or not claims.get("iss") or not claims.get("jti"):
        return 400, {"error": "invalid_scope", "error_description": "scope, iss and jti are required"}
    if int(claims["exp"]) - int(claims["iat"]) > 120:
        return 400, {"error": "invalid_grant", "error_description": "the grant may last at most 120 s"}
    return 200, {"access_token": f"mp-{uuid.uuid4()}", "token_type": "Bearer", "expires_in": 120, "scope": SCOPE}


class KrrStandin:
    """The register on 127.0.0.1:`port` (0: any free port). With `maskinporten_key` (the client's
    public key) it also plays Maskinporten: `POST /token` takes a JWT grant and issues an access
    token the register then accepts, besides the fixed `token`."""

    def __init__(
        self,
        port: int = 0,
        token: str = LOCAL_TOKEN,
        people: Mapping[str, Mapping[str, Any]] | None = None,
        maskinporten_key: Any = None,
        audience: str = "https://test.maskinporten.no/",
    ) -> None:
        self.token, self.people = token, dict(DEMO_PEOPLE if people is None else people)
        self.issued: set[str] = set()
        self.requests = 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: nothing personal in the console

            def do_POST(self) -> None:
                standin.requests += 1
                length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                if path == TOKEN_PATH and maskinporten_key is not None:
                    form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(errors="replace")).items()}
                    status, grant = grant_answer(form, maskinporten_key, audience)
                    if status == 200:
                        standin.issued.add(grant["access_token"])
                    self._json(status, grant)
                    return
                if path != PATH:
                    self._json(404, {"error": "not_found"})
                    return
                authorization = self.headers.get("Authorization", "")
                offered = authorization.removeprefix("Bearer ")
                token = offered if offered in standin.issued else standin.token  # Maskinporten's, or the fixed one
                self._json(*answer(authorization, body, token, standin.people))

            def do_GET(self) -> None:
                self._json(405, {"error": "method_not_allowed", "error_description": f"POST {PATH}"})

            def _json(self, status: int, value: Any) -> None:
                data = json.dumps(value, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="krr", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{PATH}"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{TOKEN_PATH}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


LOCAL_KEY_PARAMETER = "/timebok/maskinporten-key"  # in the stand-in's SSM, as the stack's default names it
LOCAL_AUDIENCE = "https://test.maskinporten.no/"


def start_local(port: int = 0) -> KrrStandin:
    """For `make run`: the stand-in, playing Maskinporten too, and the environment of the
    production path: a client key in the AWS stand-in's SSM, the JWT grant, KRR, SMS through
    moto's SNS (AWS_ENDPOINT_URL must name the AWS stand-in already)."""
    import os

    import boto3
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from chalicelib import settings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ssm = boto3.session.Session().client("ssm", region_name=settings.get().region)
    ssm.put_parameter(Name=LOCAL_KEY_PARAMETER, Value=pem.decode(), Type="SecureString", Overwrite=True)
    try:
        standin = KrrStandin(port, maskinporten_key=key.public_key(), audience=LOCAL_AUDIENCE)
    except OSError:  # the port is taken: any free one (KRR_URL follows)
        standin = KrrStandin(0, maskinporten_key=key.public_key(), audience=LOCAL_AUDIENCE)
    standin.start()
    os.environ.update(
        {
            "KRR_URL": standin.url,
            "KRR_TOKEN_PROVIDER": "maskinporten",
            "MASKINPORTEN_TOKEN_URL": standin.token_url,
            "MASKINPORTEN_AUDIENCE": LOCAL_AUDIENCE,
            "MASKINPORTEN_CLIENT_ID": "timebok-local",
            "MASKINPORTEN_KEY_ID": "timebok-local-key",
            "MASKINPORTEN_KEY_PARAMETER": LOCAL_KEY_PARAMETER,
            "NOTIFIER": "sms",
        }
    )
    os.environ.setdefault("SMS_SENDER_ID", "Helsenorge")
    from chalicelib.messaging.notify import set_sms_capture

    set_sms_capture(captured)  # GET /dev/sms (app.py) reads through it
    return standin


def captured() -> list[dict[str, Any]]:
    """What moto's SNS took for phone numbers, oldest first: `{to, body, appointment_id, sent_at}`
    (the last two from the SMS marks, by the message id SNS answered)."""
    from moto.sns.models import sns_backends

    sent = _sent_marks()
    items: list[dict[str, Any]] = []
    for account in list(sns_backends.keys()):
        for region in list(sns_backends[account].keys()):
            for message_id, (to, body) in list(sns_backends[account][region].sms_messages.items()):
                detail = sent.get(message_id, {})
                items.append(
                    {
                        "to": to,
                        "body": body,
                        "appointment_id": detail.get("appointment_id"),
                        "sent_at": detail.get("sent_at"),
                    }
                )
    return items


def _sent_marks() -> dict[str, dict[str, str]]:
    """The SMS marks that name an SNS message id, by it: a scan of the local table (never in AWS,
    where nothing needs to find a mark but by its event)."""
    import boto3

    from chalicelib import settings
    from chalicelib.storage import keys

    client = boto3.session.Session().client("dynamodb", region_name=settings.get().region)
    prefix = keys.sms("")[0]
    found: dict[str, dict[str, str]] = {}
    for page in client.get_paginator("scan").paginate(
        TableName=settings.get().table_name,
        FilterExpression="begins_with(pk, :sms)",
        ExpressionAttributeValues={":sms": {"S": prefix}},
    ):
        for item in page.get("Items", []):
            detail = {name: value.get("S", "") for name, value in item.get("detail", {}).get("M", {}).items()}
            if detail.get("message_id"):
                found[detail["message_id"]] = detail
    return found
