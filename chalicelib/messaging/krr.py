"""A client of the contact and reservation register's lookup (KRR, Digdir's «Oppslagstjenesten»).

`POST {KRR_URL}` (production `https://krr.digdir.no/rest/v1/personer`) with
`{"personidentifikatorer": [1..1000 ids]}` and a Maskinporten access token for the scope
`krr:global/kontaktinformasjon.read`; the answer is `{"personer": [{personidentifikator,
reservasjon: JA|NEI, status: AKTIV|SLETTET|IKKE_REGISTRERT, varslingsstatus, kontaktinformasjon:
{mobiltelefonnummer, epostadresse, ...}}]}`. A person may be written to by SMS only when active,
not reserved, allowed notices (`varslingsstatus` not KAN_IKKE_VARSLES) and with a mobile number
(docs/sms.md says where each rule comes from).

The token: Maskinporten's JWT grant (RFC 7523), signed RS256 with the client's registered key
(`kid`), the private key read from an SSM SecureString at first use; the access token is kept
until shortly before it expires. Locally and in tests a fixed token (KRR_TOKEN_PROVIDER=static).

Nothing here logs an identity number or a phone number.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import settings

SCOPE = "krr:global/kontaktinformasjon.read"
MAX_IDS = 1000  # the register answers 1..1000 persons per request
TIMEOUT_SECONDS = 5.0
GRANT_SECONDS = 60  # Maskinporten accepts grants that expire within 120 s


class KrrUnavailable(Exception):
    """The register (or Maskinporten) could not answer now: the caller tries again later."""


@dataclass(frozen=True)
class Contact:
    """What KRR says of one person that matters for an SMS."""

    pid: str
    status: str  # AKTIV, SLETTET, IKKE_REGISTRERT
    reserved: bool
    mobile: str | None  # E.164, +47...
    may_notify: bool = True  # varslingsstatus: KAN_VARSLES (or not said)

    @property
    def sms_number(self) -> str | None:
        """The number to write to, or None: not registered, reserved, no notices, or no number."""
        if self.status != "AKTIV" or self.reserved or not self.may_notify:
            return None
        return self.mobile


def unknown(pid: str) -> Contact:
    return Contact(pid, "IKKE_REGISTRERT", False, None)


def e164(number: str | None) -> str | None:
    """A Norwegian mobile number as SNS wants it (+47XXXXXXXX); None for anything else."""
    if not number:
        return None
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, "NO")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def contact_of(person: Mapping[str, Any]) -> Contact:
    info = person.get("kontaktinformasjon") or {}
    return Contact(
        pid=str(person.get("personidentifikator", "")),
        status=str(person.get("status", "IKKE_REGISTRERT")),
        reserved=person.get("reservasjon") != "NEI",  # anything but a clear NEI is a reservation
        mobile=e164(info.get("mobiltelefonnummer")) if isinstance(info, Mapping) else None,
        may_notify=person.get("varslingsstatus") != "KAN_IKKE_VARSLES",
    )


# ---- tokens ---------------------------------------------------------------------------------------


class TokenProvider(Protocol):
    def token(self) -> str: ...


class StaticToken:
    """KRR_STATIC_TOKEN: the local stand-in and tests only."""

    def token(self) -> str:
        value = settings.get().krr_static_token
        if not value:
            raise KrrUnavailable("no KRR_STATIC_TOKEN")
        return value


class MaskinportenToken:
    """An access token from Maskinporten by JWT grant, kept until a minute before it expires."""

    def __init__(self, private_key: str | None = None) -> None:
        self._private_key = private_key
        self._token: str | None = None
        self._expires = 0.0

    def grant(self, now: int) -> str:
        """The signed JWT grant: aud Maskinporten, iss the client, the KRR scope, a fresh jti."""
        import jwt

        config = settings.get()
        if not (config.maskinporten_client_id and config.maskinporten_key_id):
            raise KrrUnavailable("Maskinporten client not configured")
        claims = {
            "aud": config.maskinporten_audience,
            "iss": config.maskinporten_client_id,
            "scope": SCOPE,
            "iat": now,
            "exp": now + GRANT_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.private_key(), algorithm="RS256", headers={"kid": config.maskinporten_key_id})

    def private_key(self) -> str:
        if self._private_key is None:
            name = settings.get().maskinporten_key_parameter
            if not name:
                raise KrrUnavailable("MASKINPORTEN_KEY_PARAMETER not set")
            import boto3

            ssm = boto3.session.Session().client("ssm", region_name=settings.get().region)
            self._private_key = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return self._private_key

    def token(self) -> str:
        now = time.time()
        if self._token is not None and now < self._expires:
            return self._token
        form = urllib.parse.urlencode(
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self.grant(int(now))}
        ).encode()
        request = urllib.request.Request(
            settings.get().maskinporten_token_url,
            data=form,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        answer = _call(request, "Maskinporten")
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise KrrUnavailable("Maskinporten answered no access_token")
        self._token = token
        self._expires = now + max(0, int(answer.get("expires_in", 120)) - 60)
        return token


_provider: TokenProvider | None = None


def token_provider() -> TokenProvider:
    global _provider
    if _provider is None:
        _provider = StaticToken() if settings.get().krr_token_provider == "static" else MaskinportenToken()
    return _provider


def _forget() -> None:
    global _provider
    _provider = None


settings.on_reset(_forget)


# ---- the lookup ------------------------------------------------------------------------------------


def _call(request: urllib.request.Request, what: str) -> dict[str, Any]:
    """POST and read JSON; anything but a 2xx JSON object is KrrUnavailable (retried), named by
    status or error type only (the body could quote an identity number)."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read().decode())
    except urllib.error.HTTPError as error:
        raise KrrUnavailable(f"{what} answered {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        raise KrrUnavailable(f"{what} unreachable ({type(error).__name__})") from None
    if not isinstance(answer, dict):
        raise KrrUnavailable(f"{what} answered no JSON object")
    return answer


def lookup(pids: Iterable[str], token: TokenProvider | None = None, url: str | None = None) -> dict[str, Contact]:
    """KRR's answer for each id (unknown persons: IKKE_REGISTRERT); KrrUnavailable if it cannot
    answer now. ValueError for no ids or more than the register takes in one request."""
    wanted = list(dict.fromkeys(pids))
    if not 1 <= len(wanted) <= MAX_IDS:
        raise ValueError(f"KRR takes 1 to {MAX_IDS} ids per lookup")
    target = url or settings.get().krr_url
    if not target:
        raise KrrUnavailable("KRR_URL not set")
    request = urllib.request.Request(
        target,
        data=json.dumps({"personidentifikatorer": wanted}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {(token or token_provider()).token()}",
        },
    )
    answer = _call(request, "KRR")
    found = {pid: unknown(pid) for pid in wanted}
    for person in answer.get("personer") or []:
        if isinstance(person, Mapping) and person.get("personidentifikator") in found:
            found[str(person["personidentifikator"])] = contact_of(person)
    return found
