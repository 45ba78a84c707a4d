"""A small OpenID provider for the demo people: what ID-porten and HelseID are in AWS (local only).

The portal signs in with the authorization code flow and PKCE (RFC 7636), `state` and `nonce`,
as with the real providers: discovery at `/.well-known/openid-configuration`, keys at `/jwks`
(RS256, a key made at start and never written anywhere), `/authorize` with a page to pick a demo
person, `/token` for public clients (no secret; the PKCE verifier is the proof). The access token
carries the claims the API reads (API.md: `sub`, `role`, `name`, `orgs`, `represents`) and is
verified by the API through this JWKS, as in AWS. Refused at `/token`: an unknown, expired or
already used code, a code for another client or redirect URI, a verifier that does not match.
`state` is the client's to check; here it must be present and unguessable, and it comes back as
it was sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from chalicelib import clock

__all__ = ["OidcServer", "Provider", "ProviderError", "running"]

CODE_SECONDS = 60  # a code is exchanged at once by the page it was sent to
TOKEN_SECONDS = 3600
PENDING_SECONDS = 600  # the pick page may stay open a while
API_AUDIENCE = "timebok-api"
PORTAL_CLIENT = "timebok-portal"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")  # BASE64URL(SHA-256) without padding
_MIN_RANDOM_CHARS = 16  # state and nonce: a guessable one protects nothing


class ProviderError(Exception):
    """An OAuth error answer: `error` (RFC 6749 §5.2 codes) and a short description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Request:
    """An authorization request that passed the checks, waiting for a person to be picked."""

    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    challenge: str
    scope: str
    expires_at: int


@dataclass(frozen=True)
class Grant:
    """An issued code: single use, short-lived, bound to client, redirect URI and challenge."""

    request: Request
    claims: Mapping[str, Any]
    expires_at: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """The PKCE challenge of a verifier (S256)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass
class Provider:
    """The provider's state and rules; `OidcServer` puts it on HTTP."""

    issuer: str
    people: Sequence[Mapping[str, Any]]  # [{"label", "claims"}] as chalicelib.local.demo.demo_people
    clients: dict[str, set[str]] = field(default_factory=dict)  # client id -> its redirect URIs
    audience: str = API_AUDIENCE
    _pending: dict[str, Request] = field(default_factory=dict, repr=False)
    _codes: dict[str, Grant] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = self.issuer.rstrip("/")
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_urlsafe(8)

    def register(self, client_id: str, *redirect_uris: str) -> None:
        """Allow these exact redirect URIs for a (public) client."""
        with self._lock:
            self.clients.setdefault(client_id, set()).update(redirect_uris)

    def origins(self) -> set[str]:
        """The registered clients' origins: who may call /token from a page."""
        with self._lock:
            uris = [uri for uris in self.clients.values() for uri in uris]
        return {f"{urlsplit(uri).scheme}://{urlsplit(uri).netloc}" for uri in uris}

    # ---- documents -------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": ["sub", "name", "role", "orgs", "represents", "nonce"],
            "authorization_response_iss_parameter_supported": True,
        }

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    # ---- /authorize ------------------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> str:
        """Check an authorization request; the id of the pending request the pick page submits.

        Every refusal is shown on the provider's page, never sent to a redirect URI we could not
        trust (an unknown client or URI) or one the client could not tell from a real answer."""
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        with self._lock:
            known = redirect_uri in self.clients.get(client_id, set())
        if not known:
            raise ProviderError("invalid_request", "unknown client or redirect_uri")
        if params.get("response_type") != "code":
            raise ProviderError("unsupported_response_type", "only response_type=code")
        if "openid" not in params.get("scope", "").split():
            raise ProviderError("invalid_scope", "scope must include openid")
        for name in ("state", "nonce"):
            if len(params.get(name, "")) < _MIN_RANDOM_CHARS:
                raise ProviderError("invalid_request", f"{name} is missing or too short")
        if params.get("code_challenge_method") != "S256" or not _CHALLENGE.fullmatch(params.get("code_challenge", "")):
            raise ProviderError("invalid_request", "PKCE with code_challenge_method=S256 is required")
        request = Request(
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=params["state"],
            nonce=params["nonce"],
            challenge=params["code_challenge"],
            scope=params["scope"],
            expires_at=clock.epoch() + PENDING_SECONDS,
        )
        request_id = secrets.token_urlsafe(24)
        with self._lock:
            self._pending[request_id] = request
        return request_id

    def decide(self, request_id: str, person: int | None) -> str:
        """The redirect back to the client: a code for the picked person, or access_denied."""
        with self._lock:
            request = self._pending.pop(request_id, None)
        if request is None or request.expires_at < clock.epoch():
            raise ProviderError("invalid_request", "this sign-in has expired; start again")
        answer = {"state": request.state, "iss": self.issuer}
        if person is None or not 0 <= person < len(self.people):
            answer = {"error": "access_denied", **answer}
        else:
            code = secrets.token_urlsafe(32)
            grant = Grant(request, dict(self.people[person]["claims"]), clock.epoch() + CODE_SECONDS)
            with self._lock:
                self._codes[code] = grant
            answer = {"code": code, **answer}
        return f"{request.redirect_uri}?{urlencode(answer)}"

    # ---- /token ----------------------------------------------------------------------------------

    def exchange(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The token response for an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6)."""
        if form.get("grant_type") != "authorization_code":
            raise ProviderError("unsupported_grant_type", "only authorization_code")
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # used once, whatever follows
        if grant is None:
            raise ProviderError("invalid_grant", "unknown or already used code")
        request = grant.request
        if grant.expires_at < clock.epoch():
            raise ProviderError("invalid_grant", "code expired")
        if form.get("client_id") != request.client_id or form.get("redirect_uri") != request.redirect_uri:
            raise ProviderError("invalid_grant", "code was issued to another client or redirect_uri")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), request.challenge):
            raise ProviderError("invalid_grant", "code_verifier does not match")
        claims = grant.claims
        now = clock.epoch()
        id_token = self._sign(
            {
                "iss": self.issuer,
                "sub": claims["sub"],
                "aud": request.client_id,
                "nonce": request.nonce,
                "name": claims.get("name", ""),
                "auth_time": now,
            },
            now,
        )
        return {
            "token_type": "Bearer",
            "access_token": self.access_token(claims, client_id=request.client_id, scope=request.scope),
            "id_token": id_token,
            "expires_in": TOKEN_SECONDS,
            "scope": request.scope,
        }

    def access_token(self, claims: Mapping[str, Any], *, client_id: str = PORTAL_CLIENT, scope: str = "openid") -> str:
        """An access token for the API (also what the local stage's POST /dev/token hands out)."""
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": self.audience,
            "client_id": client_id,
            "scope": scope,
            "jti": secrets.token_urlsafe(12),
        }
        return self._sign(payload, clock.epoch(), typ="at+jwt")

    def _sign(self, payload: dict[str, Any], now: int, typ: str = "JWT") -> str:
        import jwt

        body = {**payload, "iat": now, "exp": now + TOKEN_SECONDS}
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": typ})


# ---- HTTP -----------------------------------------------------------------------------------------


def pick_page(provider: Provider, request_id: str) -> str:
    """The provider's own page: pick a demo person (Norwegian, as ID-porten's)."""
    choices = "\n".join(
        f'<li><label><input type="radio" name="person" value="{i}"{" checked" if i == 0 else ""}> '
        f"{html.escape(str(person['label']))}</label></li>"
        for i, person in enumerate(provider.people)
    )
    return f"""<!doctype html>
<html lang="nb">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Logg inn - lokal testinnlogging</title></head>
<body>
<main>
<h1>Lokal testinnlogging</h1>
<p>Dette er den lokale stand-in for ID-porten og HelseID. Velg en testperson.</p>
<form method="post" action="/authorize">
<input type="hidden" name="request" value="{html.escape(request_id)}">
<fieldset><legend>Hvem vil du logge inn som?</legend>
<ul>
{choices}
</ul>
</fieldset>
<button type="submit" name="decision" value="allow">Logg inn</button>
<button type="submit" name="decision" value="cancel">Avbryt</button>
</form>
</main>
</body>
</html>
"""


def error_page(error: ProviderError) -> str:
    return f"""<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><title>Innloggingen feilet</title></head>
<body><main><h1>Innloggingen feilet</h1><p>{html.escape(error.description)} ({html.escape(error.error)})</p>
</main></body></html>
"""


class OidcHandler(BaseHTTPRequestHandler):
    @property
    def provider(self) -> Provider:
        return self.server.provider  # type: ignore[attr-defined,no-any-return]  # set by OidcServer

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/.well-known/openid-configuration":
            self._json(200, self.provider.discovery(), cors="*")
        elif path == "/jwks":
            self._json(200, self.provider.jwks(), cors="*")
        elif path == "/authorize":
            try:
                request_id = self.provider.authorize(_single(parse_qs(query)))
            except ProviderError as error:
                self._html(400, error_page(error))
                return
            self._html(200, pick_page(self.provider, request_id))
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        form = _single(parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()))
        path = self.path.partition("?")[0]
        if path == "/authorize":
            person = form.get("person", "") if form.get("decision") == "allow" else ""
            try:
                location = self.provider.decide(form.get("request", ""), int(person) if person.isdigit() else None)
            except ProviderError as error:
                self._html(400, error_page(error))
                return
            self.send_response(303)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self._common_headers()
            self.end_headers()
        elif path == "/token":
            try:
                self._json(200, self.provider.exchange(form), cors=self._client_origin())
            except ProviderError as error:
                self._json(
                    400, {"error": error.error, "error_description": error.description}, cors=self._client_origin()
                )
        else:
            self.send_error(404)

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors(self._client_origin() if self.path.startswith("/token") else "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Max-Age", "7200")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _client_origin(self) -> str | None:
        origin = self.headers.get("Origin")
        return origin if origin in self.provider.origins() else None

    def _cors(self, origin: str | None) -> None:
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # codes and tokens are never cached (RFC 6749 §5.1)
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")

    def _json(self, status: int, body: Any, cors: str | None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._cors(cors)
        self._common_headers()
        self.end_headers()
        self.wfile.write(data)

    def _html(self, status: int, page: str) -> None:
        data = page.encode()
        # The pick page's form goes to /authorize, whose answer redirects to a registered client.
        targets = " ".join(sorted(self.provider.origins()))
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; form-action 'self' {targets}; base-uri 'none'; frame-ancestors 'none'",
        )
        self._common_headers()
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _single(values: Mapping[str, list[str]]) -> dict[str, str]:
    """Query or form values, each parameter once (a repeated one counts as absent: RFC 6749 §3.1)."""
    return {name: found[0] for name, found in values.items() if len(found) == 1}


_running: Provider | None = None


def running() -> Provider | None:
    """The provider this process serves, if any (the local stage's POST /dev/token signs with it)."""
    return _running


class OidcServer:
    """The provider on 127.0.0.1:`port` in a daemon thread; `stop` shuts it down."""

    def __init__(self, host: str, port: int, people: Sequence[Mapping[str, Any]] | None = None) -> None:
        if people is None:
            from chalicelib.local.demo import demo_people

            people = demo_people()
        self._server = ThreadingHTTPServer((host, port), OidcHandler)
        self._server.daemon_threads = True
        self.provider = self._server.provider = Provider(f"http://{host}:{self.port}", people)  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def start(self) -> None:
        global _running
        from chalicelib.http.tokens import set_dev_signer

        self._thread.start()
        _running = self.provider
        set_dev_signer(self.provider.access_token)

    def stop(self) -> None:
        global _running
        from chalicelib.http.tokens import set_dev_signer

        _running = None
        set_dev_signer(None)
        self._server.shutdown()
        self._server.server_close()
