"""The stage's settings, read once from the environment, and the one reset for tests.

Lambda (and `make run`, and the tests) set the environment per stage from .chalice/config.json
and the stack's template; code reads `settings.get()`, never `os.environ`. A test or the local
runner that changes the environment calls `settings.reset()`: it forgets these settings and runs
every per-process cache's reset hook (`on_reset`), so nothing keeps a stale table, queue,
client or token verifier, and tests need not know which private caches exist.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Settings", "get", "on_reset", "reset"]

DEFAULT_REGION = "eu-north-1"


def _text(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """Unset and blank are the same."""
    value = (environ.get(name) or "").strip()
    return value or default


def _enabled(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = _text(environ, name)
    return default if value is None else value == "enabled"


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    value = _text(environ, name)
    try:
        return default if value is None else float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds") from None


@dataclass(frozen=True)
class Settings:
    """What a stage configures. Token variables are kept raw here and checked by TokenSettings."""

    stage: str
    service: str
    region: str
    table_name: str
    events_queue_name: str
    events_queue_url: str | None
    # Timeouts: Lambda reuses connections; short ones fail fast in a surge instead of hanging.
    dynamodb_connect_timeout: float
    dynamodb_read_timeout: float
    sqs_connect_timeout: float
    sqs_read_timeout: float
    jwks_fetch_timeout: float
    token_environment: Mapping[str, str]  # TOKEN_* as set (see chalicelib.http.tokens.TokenSettings)
    token_secret: str | None
    pseudonym_key: str | None
    dev_tokens: bool  # POST /dev/token: the local stage only
    log_level: str
    log_tracebacks: bool  # tracebacks can quote personal data: only where a stage allows it (local)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        region = _text(environ, "AWS_REGION") or _text(environ, "AWS_DEFAULT_REGION") or DEFAULT_REGION
        return cls(
            stage=_text(environ, "TIMEBOK_STAGE", "local") or "local",
            service=_text(environ, "POWERTOOLS_SERVICE_NAME", "timebok") or "timebok",
            region=region,
            table_name=_text(environ, "TABLE_NAME", "timebok-local") or "timebok-local",
            events_queue_name=_text(environ, "EVENTS_QUEUE_NAME", "timebok-events.fifo") or "timebok-events.fifo",
            events_queue_url=_text(environ, "EVENTS_QUEUE_URL"),
            dynamodb_connect_timeout=_seconds(environ, "DYNAMODB_CONNECT_TIMEOUT_SECONDS", 2),
            dynamodb_read_timeout=_seconds(environ, "DYNAMODB_READ_TIMEOUT_SECONDS", 5),
            sqs_connect_timeout=_seconds(environ, "SQS_CONNECT_TIMEOUT_SECONDS", 2),
            sqs_read_timeout=_seconds(environ, "SQS_READ_TIMEOUT_SECONDS", 5),
            jwks_fetch_timeout=_seconds(environ, "TOKEN_JWKS_TIMEOUT_SECONDS", 5),
            token_environment={k: v for k, v in environ.items() if k.startswith("TOKEN_")},
            token_secret=_text(environ, "TOKEN_SECRET"),
            pseudonym_key=_text(environ, "PSEUDONYM_KEY"),
            dev_tokens=_enabled(environ, "DEV_TOKENS"),
            log_level=_text(environ, "LOG_LEVEL", "INFO") or "INFO",
            log_tracebacks=_enabled(environ, "LOG_TRACEBACKS"),
        )


_current: Settings | None = None
_hooks: list[Callable[[], None]] = []


def get() -> Settings:
    """The settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_environment(os.environ)
    return _current


def on_reset(hook: Callable[[], None]) -> Callable[[], None]:
    """Register a per-process cache's reset (a client, a verifier, a memo); returns the hook."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def reset() -> None:
    """Read the environment again and empty every registered cache (tests, the local runner)."""
    global _current
    _current = None
    for hook in list(_hooks):
        hook()
