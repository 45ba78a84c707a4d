"""Verification and issuing of the portal's JSON Web Tokens.

Why this module exists: every API call is authorised from the claims in a
bearer token, so verification must be strict (fixed algorithm, required
expiry, issuer and audience) and every failure must look the same to callers
(:class:`InvalidToken` with a short message that never contains the token or
the national identity number).

``jwt`` (PyJWT, which pulls in ``cryptography``) is imported lazily inside the
functions: it costs tens of milliseconds, which matters on a Lambda cold start
for routes that never look at a token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from chalicelib.domain.identity import validate_pid

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "Claims",
    "InvalidToken",
    "Represented",
    "TokenSettings",
    "TokenVerifier",
    "issue_token",
]

logger = logging.getLogger(__name__)

MIN_HS256_SECRET_BYTES = 32  # RFC 7518 §3.2: key at least as long as the hash output
MIN_RSA_KEY_BITS = 2048
MAX_TOKEN_CHARS = 16_384  # far above any real token; stops absurd inputs early
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class InvalidToken(Exception):
    """The bearer token cannot be trusted; the caller should answer 401.

    The message is deliberately short and generic so it is safe to return to
    the client and to log; it never contains the token or any claim value.
    """


# A national identity number; validate_pid raises InvalidIdentity (a ValueError),
# which pydantic turns into a ValidationError and the verifier into InvalidToken.
Pid = Annotated[str, AfterValidator(validate_pid)]

# A parent with several children, or a handful of powers of attorney; far more is no real portal
# token, and every list the caller reads (appointments, inbox) fans out over these people.
MAX_REPRESENTS = 10
MAX_NAME_LENGTH = 200


def _storable_name(value: str) -> str:
    """Names end up in stored appointments: text that cannot be stored makes the token invalid."""
    if "\x00" in value or len(value) > MAX_NAME_LENGTH:
        raise ValueError("name is not acceptable")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("name is not acceptable") from None
    return value


Name = Annotated[str, AfterValidator(_storable_name)]


class Represented(BaseModel):
    """A person the token holder may act for (e.g. a child or a power of attorney)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    pid: Pid
    name: Name


class Claims(BaseModel):
    """The application-relevant claims of a verified portal token.

    Registered claims (exp, iat, iss, aud, nbf, ...) are checked by the verifier
    and then ignored here, as are any other extra claims.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    sub: Pid
    role: Literal["citizen", "staff"]
    name: Name
    orgs: list[str] = Field(default_factory=list, max_length=100)
    represents: list[Represented] = Field(default_factory=list, max_length=MAX_REPRESENTS)


def _blank_to_none(value: str | None) -> str | None:
    """Treat unset and empty environment variables the same."""
    if value is None:
        return None
    value = value.strip()
    return value or None


@dataclass(frozen=True)
class TokenSettings:
    """How tokens are verified; validated on construction so misconfiguration fails at start-up.

    ``hs256`` is for local development and tests (shared secret); ``rs256`` is
    for tokens from the real identity provider, whose public keys come from a
    JWKS document (file or https URL). In rs256 mode issuer and audience are
    mandatory, because accepting a validly signed token meant for another
    service is a classic confused-deputy hole.
    """

    mode: Literal["hs256", "rs256"]
    secret: str | None = None
    jwks_path: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 60

    def __post_init__(self) -> None:
        """Reject settings that would make verification insecure or impossible."""
        if self.mode not in ("hs256", "rs256"):
            raise ValueError("TOKEN_MODE must be 'hs256' or 'rs256'")
        if isinstance(self.leeway_seconds, bool) or not isinstance(self.leeway_seconds, int):
            raise TypeError("TOKEN_LEEWAY_SECONDS must be an integer")
        if not 0 <= self.leeway_seconds <= 300:
            raise ValueError("TOKEN_LEEWAY_SECONDS must be between 0 and 300")
        if self.mode == "hs256":
            if not self.secret:
                raise ValueError("TOKEN_SECRET is required in hs256 mode")
            if len(self.secret.encode("utf-8")) < MIN_HS256_SECRET_BYTES:
                raise ValueError(f"TOKEN_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes")
            return
        if bool(self.jwks_path) == bool(self.jwks_url):
            raise ValueError("exactly one of TOKEN_JWKS_PATH or TOKEN_JWKS_URL is required in rs256 mode")
        if self.jwks_url:
            parts = urlsplit(self.jwks_url)
            local_http = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
            if parts.scheme != "https" and not local_http:
                raise ValueError("TOKEN_JWKS_URL must use https (http only for localhost)")
        if not self.issuer or not self.audience:
            raise ValueError("TOKEN_ISSUER and TOKEN_AUDIENCE are required in rs256 mode")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TokenSettings:
        """Build settings from ``TOKEN_*`` environment variables (mode defaults to hs256)."""
        mode = (_blank_to_none(environ.get("TOKEN_MODE")) or "hs256").lower()
        leeway_raw = _blank_to_none(environ.get("TOKEN_LEEWAY_SECONDS"))
        try:
            leeway = int(leeway_raw) if leeway_raw is not None else 60
        except ValueError:
            raise ValueError("TOKEN_LEEWAY_SECONDS must be an integer") from None
        return cls(
            mode=mode,  # type: ignore[arg-type]  # checked in __post_init__
            secret=_blank_to_none(environ.get("TOKEN_SECRET")),
            jwks_path=_blank_to_none(environ.get("TOKEN_JWKS_PATH")),
            jwks_url=_blank_to_none(environ.get("TOKEN_JWKS_URL")),
            issuer=_blank_to_none(environ.get("TOKEN_ISSUER")),
            audience=_blank_to_none(environ.get("TOKEN_AUDIENCE")),
            leeway_seconds=leeway,
        )


def _strip_bearer(token: str) -> str:
    """Accept both the raw token and an ``Authorization`` header value."""
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


def _usable_jwks(document: Any) -> dict[str, Any]:
    """The JWKS document with only the keys we verify with: RSA signing keys for RS256, with a
    ``kid``, at least 2048 bits.

    Other keys are skipped rather than failing the whole set, so one odd key at the provider
    does not lock everybody out; a set with none left is an error.
    """
    from jwt import PyJWK, PyJWKClientError

    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise PyJWKClientError("JWKS document has no 'keys' list")
    kept = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if (
            jwk.get("kty") != "RSA"
            or not isinstance(kid, str)
            or not kid
            or jwk.get("use", "sig") != "sig"
            or jwk.get("alg", "RS256") != "RS256"
        ):
            continue
        try:
            key = PyJWK(jwk, algorithm="RS256").key
        except Exception:
            logger.warning("skipping malformed JWKS key")
            continue
        if key.key_size < MIN_RSA_KEY_BITS:
            logger.warning("skipping JWKS key shorter than %d bits", MIN_RSA_KEY_BITS)
            continue
        kept.append(jwk)
    if not kept:
        raise PyJWKClientError("JWKS document has no usable RS256 keys")
    return {"keys": kept}


def _jwks_client(
    settings: TokenSettings, ttl_seconds: float, min_refresh_seconds: float, timeout_seconds: float
) -> Any:
    """PyJWT's PyJWKClient (fetch, cache for ``ttl_seconds``, one early re-read for an unknown
    ``kid`` at most every ``min_refresh_seconds``) with what Timebok adds: keys from a file, only
    usable RS256 keys, and the last good keys while the identity provider cannot be reached."""
    from jwt import PyJWKClient

    class JwksClient(PyJWKClient):
        last_good: Any = None

        def fetch_data(self) -> Any:
            document = super().fetch_data()
            try:
                return _usable_jwks(document)
            except Exception:
                if self.jwk_set_cache is not None:
                    self.jwk_set_cache.put(self.last_good)  # not the unfiltered set PyJWKClient cached
                raise

        def get_jwk_set(self, refresh: bool = False) -> Any:
            try:
                jwk_set = super().get_jwk_set(refresh)
            except Exception:
                if self.last_good is None:
                    raise
                # Keep serving the previous keys rather than locking users out; try again after a TTL.
                logger.warning("could not load JWKS; keeping the last good keys", exc_info=True)
                if self.jwk_set_cache is not None:
                    self.jwk_set_cache.put(self.last_good)
                return self.last_good
            self.last_good = jwk_set
            return jwk_set

    client = JwksClient(
        settings.jwks_url or "https://localhost/",
        lifespan=ttl_seconds,
        cooldown_duration=min_refresh_seconds,
        timeout=timeout_seconds,
        headers={"Accept": "application/json"},
    )
    if settings.jwks_path:
        # PyJWKClient refuses file:// at construction because its URI may come from a token's
        # header; ours comes from the stage's configuration (TOKEN_JWKS_PATH), so it may read a file.
        client.uri = Path(settings.jwks_path).resolve().as_uri()
    return client


class TokenVerifier:
    """Verifies bearer tokens and returns their validated :class:`Claims`.

    Create one per process (e.g. at module level in the Chalice app) so the
    JWKS cache survives between Lambda invocations. PyJWT's ``PyJWKClient``
    re-reads the JWKS after ``jwks_ttl_seconds``, and once early when a token
    names an unknown ``kid`` (key rotation); early re-reads wait at least
    ``min_refresh_interval_seconds`` after the last read, so a flood of tokens
    with random ``kid`` values cannot hammer the identity provider.
    """

    def __init__(
        self,
        settings: TokenSettings,
        *,
        jwks_ttl_seconds: float = 600.0,
        min_refresh_interval_seconds: float = 30.0,
        fetch_timeout_seconds: float = 5.0,
    ) -> None:
        """Keep the settings; nothing is fetched until the first rs256 token arrives."""
        self._settings = settings
        self._algorithm = "HS256" if settings.mode == "hs256" else "RS256"
        self._jwks_ttl = jwks_ttl_seconds
        self._min_refresh = min_refresh_interval_seconds
        self._fetch_timeout = fetch_timeout_seconds
        self._jwks: Any = None  # made with the first rs256 token (PyJWT is imported lazily)
        self._lock = threading.Lock()

    def verify(self, token: str) -> Claims:
        """Verify signature, algorithm and registered claims; return the portal claims.

        Raises :class:`InvalidToken` for every kind of failure.
        """
        import jwt

        if not isinstance(token, str):
            raise InvalidToken("malformed token")
        token = _strip_bearer(token)
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        # Checked before key selection so "none" or HS256-with-public-key never gets further.
        if header.get("alg") != self._algorithm:
            raise InvalidToken("unsupported token algorithm")

        settings = self._settings
        key: Any = settings.secret if self._algorithm == "HS256" else self._signing_key(header.get("kid"))
        required = ["exp"]
        if settings.issuer is not None:
            required.append("iss")
        if settings.audience is not None:
            required.append("aud")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                issuer=settings.issuer,
                audience=settings.audience,
                leeway=settings.leeway_seconds,
                options={
                    "require": required,
                    # With no audience configured, an "aud" claim is ignored rather than fatal.
                    "verify_aud": settings.audience is not None,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("token not yet valid") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("invalid token issuer") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("invalid token audience") from None
        except jwt.MissingRequiredClaimError:
            raise InvalidToken("token is missing a required claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("invalid token signature") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken("unsupported token algorithm") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken("malformed token") from None
        try:
            return Claims.model_validate(payload)
        except ValidationError:
            # ``from None``: pydantic's error text would echo the offending claim value.
            raise InvalidToken("invalid token claims") from None

    def _signing_key(self, kid: object) -> RSAPublicKey:
        """The JWKS key for ``kid``; PyJWKClient re-reads the set when stale or on an unknown kid."""
        from jwt import PyJWKClientError

        if not isinstance(kid, str) or not kid:
            raise InvalidToken("unknown signing key")
        with self._lock:
            if self._jwks is None:
                self._jwks = _jwks_client(self._settings, self._jwks_ttl, self._min_refresh, self._fetch_timeout)
        try:
            return self._jwks.get_signing_key(kid).key
        except Exception as error:
            if self._jwks.last_good is None:
                logger.warning("could not load JWKS (%s)", type(error).__name__)
                raise InvalidToken("token signing keys unavailable") from None
            if isinstance(error, PyJWKClientError):
                raise InvalidToken("unknown signing key") from None
            raise


def issue_token(
    claims: dict[str, Any],
    secret: str,
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """Sign ``claims`` with HS256, adding ``iat`` and ``exp`` (and ``iss``/``aud`` if given).

    For the local-only ``POST /dev/token`` route and tests; production tokens
    come from the identity provider. The claims are not validated here so tests
    can deliberately issue bad ones.
    """
    import jwt

    if len(secret.encode("utf-8")) < MIN_HS256_SECRET_BYTES:
        raise ValueError(f"secret must be at least {MIN_HS256_SECRET_BYTES} bytes")
    # The real clock, not chalicelib.clock: PyJWT checks exp and iat against the real clock (it takes
    # no other, pyjwt#921), so a token made on a test's moved clock would be refused.
    now = int(time.time())
    payload: dict[str, Any] = {**claims, "iat": now, "exp": now + ttl_seconds}
    if issuer is not None:
        payload["iss"] = issuer
    if audience is not None:
        payload["aud"] = audience
    return jwt.encode(payload, secret, algorithm="HS256")


# POST /dev/token (local stage only): `make run` signs with its OpenID provider, so the API verifies
# every local token by JWKS as in AWS; the provider registers itself here (chalicelib/local/oidc.py)
# because the deployed package has no chalicelib/local to import.
_dev_signer: Callable[[Mapping[str, Any]], str] | None = None


def set_dev_signer(signer: Callable[[Mapping[str, Any]], str] | None) -> None:
    global _dev_signer
    _dev_signer = signer


def dev_token(claims: dict[str, Any], secret: str) -> str:
    """A local token: the running OpenID provider's, or HS256 with the stage's secret (tests)."""
    signer = _dev_signer
    return signer(claims) if signer is not None else issue_token(claims, secret)
