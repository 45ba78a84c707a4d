"""Tokens at the gateway, and the caller's identity in the handlers.

The Chalice built-in authorizer verifies the JWT once (API Gateway caches the result) and
passes the verified claims to the handler in the authorizer context; handlers turn them into a
`Principal`. A bad token is refused at the gateway with 401.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from chalicelib import settings
from chalicelib.domain.people import Principal
from chalicelib.errors import Unauthorized

if TYPE_CHECKING:
    from chalicelib.http.tokens import InvalidToken, TokenVerifier

# The token module (its pydantic claims models, PyJWT) is imported on first use, not with app.py:
# most of a cold start never verifies a token (the authorizer does, once per token and cache).
_TOKEN_NAMES = ("Claims", "InvalidToken", "TokenSettings", "TokenVerifier")

_verifier: TokenVerifier | None = None


def __getattr__(name: str) -> Any:
    if name in _TOKEN_NAMES:
        from chalicelib.http import tokens

        return getattr(tokens, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def verifier() -> TokenVerifier:
    """One verifier per process, so its JWKS cache lives across Lambda invocations."""
    from chalicelib.http.tokens import TokenSettings, TokenVerifier

    global _verifier
    if _verifier is None:
        _verifier = TokenVerifier(
            TokenSettings.from_env(settings.get().token_environment),
            fetch_timeout_seconds=settings.get().jwks_fetch_timeout,
        )
    return _verifier


@settings.on_reset
def reset() -> None:
    global _verifier
    _verifier = None


# A keyed pseudonym: a plain hash of an identity number is reversible by trying the few hundred
# valid numbers of a birth date. The key is the stage's PSEUDONYM_KEY, else one per process.
@functools.cache
def _process_key() -> str:
    import secrets  # with hashlib and hmac: only the authorizer needs them, not a cold start's import

    return secrets.token_hex(32)


def principal_id(sub: str) -> str:
    """API Gateway logs the principal id: a keyed hash, so no identity number reaches those logs."""
    import hashlib
    import hmac

    key = (settings.get().pseudonym_key or _process_key()).encode()
    return hmac.new(key, sub.encode(), hashlib.sha256).hexdigest()[:24]


def authorize(header_value: str) -> tuple[str, dict[str, str]]:
    """Verify `Authorization: Bearer <JWT>`: (principal id, authorizer context). Raises InvalidToken."""
    from chalicelib.http.tokens import InvalidToken

    scheme, _, token = (header_value or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("expected 'Bearer <token>'")
    claims = verifier().verify(token.strip())
    return principal_id(claims.sub), {"claims": claims.model_dump_json()}


def principal_from_context(context: dict[str, Any] | None) -> Principal:
    """The verified claims the authorizer passed on, as a Principal."""
    from chalicelib.http.tokens import Claims

    raw = (context or {}).get("authorizer", {}).get("claims")
    if not raw:
        raise Unauthorized("A valid token is required.")
    try:
        claims = Claims.model_validate(json.loads(raw))
    except (ValueError, TypeError) as error:
        raise Unauthorized("A valid token is required.") from error
    return Principal(
        sub=claims.sub,
        role=claims.role,
        name=claims.name,
        orgs=tuple(claims.orgs),
        represents={r.pid: r.name for r in claims.represents},
    )


__all__ = ["InvalidToken", "authorize", "principal_from_context", "principal_id", "reset", "verifier"]
