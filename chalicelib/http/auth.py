"""Tokens at the gateway, and the caller's identity in the handlers.

The Chalice built-in authorizer verifies the JWT once (API Gateway caches the result) and
passes the verified claims to the handler in the authorizer context; handlers turn them into a
`Principal`. A bad token is refused at the gateway with 401.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from chalicelib.domain.people import Principal
from chalicelib.errors import Unauthorized
from chalicelib.http.tokens import Claims, InvalidToken, TokenSettings, TokenVerifier

_verifier: TokenVerifier | None = None


def verifier() -> TokenVerifier:
    """One verifier per process, so its JWKS cache lives across Lambda invocations."""
    global _verifier
    if _verifier is None:
        _verifier = TokenVerifier(TokenSettings.from_env(os.environ))
    return _verifier


def reset() -> None:
    global _verifier
    _verifier = None


def principal_id(sub: str) -> str:
    """API Gateway logs the principal id: a hash, so no identity number reaches those logs."""
    return hashlib.sha256(sub.encode()).hexdigest()[:20]


def authorize(token: str) -> tuple[str, dict[str, str]]:
    """Verify a token: (principal id, authorizer context). Raises InvalidToken."""
    claims = verifier().verify(token)
    return principal_id(claims.sub), {"claims": claims.model_dump_json()}


def principal_from_context(context: dict[str, Any] | None) -> Principal:
    """The verified claims the authorizer passed on, as a Principal."""
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
