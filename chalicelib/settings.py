"""The stage's settings, read once from the environment, and the one reset for tests.

Lambda (and `make run`, and the tests) set the environment per stage from .chalice/config.json
and the stack's template; code reads `settings.get()`, never `os.environ`. A test or the local
runner that changes the environment calls `settings.reset()`: it forgets these settings and runs
every per-process cache's reset hook (`on_reset`), so nothing keeps a stale table, queue,
client or token verifier, and tests need not know which private caches exist.

The rule, enforced by tests/test_settings.py: in `chalicelib/` and `app.py` only this module
reads the environment, and only `chalicelib/local/` writes it (the local runner sets up a stage
as Lambda would, then calls `reset()`).

Every variable is named here. A knob whose default and parsing belong to the rule it tunes
(REQUEST_BUDGET_SECONDS, FEED_DAYS, ...) is kept as its text (blank is unset) and parsed beside
that rule, so the reason for the default stays next to it and a bad value fails as it did.

Why a frozen dataclass and not pydantic-settings: importing pydantic_settings costs 130-250 ms
of CPU on top of pydantic (it loads asyncio, pydantic.dataclasses and dotenv), more than all of
`import app` (~90 ms), on every Lambda cold start; this reading costs microseconds.
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


# Compared by nothing; a repr would print the token secret and pseudonym key (and each generated
# method is compiled at a cold start).
@dataclass(frozen=True, eq=False, repr=False)
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
    # The waiting room's signing key: the ARN of the stack's Secrets Manager secret (infra/stack.yaml),
    # read by chalicelib/booking/queue.py once per process when a queue call first needs it
    waiting_room_key_secret: str | None
    dev_tokens: bool  # POST /dev/token: the local stage only
    log_level: str
    log_tracebacks: bool  # tracebacks can quote personal data: only where a stage allows it (local)
    request_budget_seconds: str | None  # chalicelib.budget parses it (default 6 s)
    closure_budget_seconds: str | None  # chalicelib.booking.closures parses it (default 5 s)
    availability_staleness_seconds: str | None  # chalicelib.booking.discovery parses it
    availability_docs: str  # where published availability lives: "s3" (the stack) or "memory"
    allowed_origins: str  # the stage's CORS origins, spaces or commas between (chalicelib.http.cors)
    portal_origin: str  # the portal's CloudFront origin, set by the deployed stack
    portal_url: str | None  # the portal's base URL for deep links in the feed
    feed_bucket: str | None
    feed_base_url: str | None
    feed_days: str | None  # chalicelib.booking.feed parses it
    feed_runs_per_minute: str | None  # chalicelib.booking.feed parses it
    fhir_identifier_system: str | None
    organisation_number: str | None  # the municipality's organisasjonsnummer (FHIR partOf)
    helsenorge_queue_name: str
    helsenorge_queue_url: str | None
    helsenorge_dead_letter_queue_url: str | None  # where a refused (4xx) appointment change goes at once
    helsenorge_appointment_url: str | None
    helsenorge_token_provider: str
    helsenorge_static_token: str | None  # the local stand-in and tests only
    helsenorge_retry_base_seconds: str | None  # chalicelib.messaging.helsenorge parses it
    # `make run`'s ports (chalicelib/local/runner.py parses them): the API's, the portal's, the stand-ins'
    port: str | None
    portal_port: str | None
    standards_port: str | None
    oidc_port: str | None  # the local OpenID provider (make run: PORT+3)
    # Word by SMS (docs/sms.md): the notifier, KRR's lookup and its Maskinporten token, SNS's originator
    notifier: str  # "log" (default) or "sms"
    krr_url: str | None  # KRR's POST .../rest/v1/personer
    krr_token_provider: str  # "maskinporten" (production) or "static" (the stand-in, tests)
    krr_static_token: str | None
    maskinporten_token_url: str
    maskinporten_audience: str
    maskinporten_client_id: str | None
    maskinporten_key_id: str | None  # the kid of the key registered for the client
    maskinporten_key_parameter: str | None  # an SSM SecureString holding the PEM private key
    sms_sender_id: str  # AWS.SNS.SMS.SenderID: at most 11 letters and digits
    krr_port: str | None  # the local KRR stand-in (make run: PORT+4)
    # The local stand-in refuses this share of writes with DynamoDB's transaction conflicts
    # (chalicelib/local/moto_server.py parses them; unset: none)
    local_conflict_rate: str | None
    stack_name: str | None  # the deployed stack (infra/stack.yaml): the business metrics' dimension
    local_conflict_seed: str | None

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
            waiting_room_key_secret=_text(environ, "WAITING_ROOM_KEY_SECRET"),
            dev_tokens=_enabled(environ, "DEV_TOKENS"),
            log_level=_text(environ, "LOG_LEVEL", "INFO") or "INFO",
            log_tracebacks=_enabled(environ, "LOG_TRACEBACKS"),
            request_budget_seconds=_text(environ, "REQUEST_BUDGET_SECONDS"),
            closure_budget_seconds=_text(environ, "CLOSURE_BUDGET_SECONDS"),
            availability_staleness_seconds=_text(environ, "AVAILABILITY_STALENESS_SECONDS"),
            availability_docs=_text(environ, "AVAILABILITY_DOCS", "memory") or "memory",
            allowed_origins=_text(environ, "ALLOWED_ORIGINS", "") or "",
            portal_origin=_text(environ, "PORTAL_ORIGIN", "") or "",
            portal_url=_text(environ, "PORTAL_URL"),
            feed_bucket=_text(environ, "FEED_BUCKET"),
            feed_base_url=_text(environ, "FEED_BASE_URL"),
            feed_days=_text(environ, "FEED_DAYS"),
            feed_runs_per_minute=_text(environ, "FEED_RUNS_PER_MINUTE"),
            fhir_identifier_system=_text(environ, "FHIR_IDENTIFIER_SYSTEM"),
            organisation_number=_text(environ, "ORGANISATION_NUMBER"),
            helsenorge_queue_name=_text(environ, "HELSENORGE_QUEUE_NAME", "timebok-helsenorge.fifo")
            or "timebok-helsenorge.fifo",
            helsenorge_queue_url=_text(environ, "HELSENORGE_QUEUE_URL"),
            helsenorge_dead_letter_queue_url=_text(environ, "HELSENORGE_DEAD_LETTER_QUEUE_URL"),
            helsenorge_appointment_url=_text(environ, "HELSENORGE_APPOINTMENT_URL"),
            helsenorge_token_provider=_text(environ, "HELSENORGE_TOKEN_PROVIDER", "helseid") or "helseid",
            helsenorge_static_token=_text(environ, "HELSENORGE_STATIC_TOKEN"),
            helsenorge_retry_base_seconds=_text(environ, "HELSENORGE_RETRY_BASE_SECONDS"),
            port=_text(environ, "PORT"),
            portal_port=_text(environ, "PORTAL_PORT"),
            standards_port=_text(environ, "STANDARDS_PORT"),
            oidc_port=_text(environ, "OIDC_PORT"),
            notifier=_text(environ, "NOTIFIER", "log") or "log",
            krr_url=_text(environ, "KRR_URL"),
            krr_token_provider=_text(environ, "KRR_TOKEN_PROVIDER", "maskinporten") or "maskinporten",
            krr_static_token=_text(environ, "KRR_STATIC_TOKEN"),
            maskinporten_token_url=_text(environ, "MASKINPORTEN_TOKEN_URL", "https://maskinporten.no/token") or "",
            maskinporten_audience=_text(environ, "MASKINPORTEN_AUDIENCE", "https://maskinporten.no/") or "",
            maskinporten_client_id=_text(environ, "MASKINPORTEN_CLIENT_ID"),
            maskinporten_key_id=_text(environ, "MASKINPORTEN_KEY_ID"),
            maskinporten_key_parameter=_text(environ, "MASKINPORTEN_KEY_PARAMETER"),
            sms_sender_id=_text(environ, "SMS_SENDER_ID", "Timebok") or "Timebok",
            krr_port=_text(environ, "KRR_PORT"),
            local_conflict_rate=_text(environ, "LOCAL_CONFLICT_RATE"),
            stack_name=_text(environ, "STACK_NAME"),
            local_conflict_seed=_text(environ, "LOCAL_CONFLICT_SEED"),
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


def reset(*, caches: bool = True) -> None:
    """Read the environment again and empty every registered cache (tests, the local runner);
    `caches=False` only re-reads (tests' monkeypatch: a knob changed, the warm caches kept)."""
    global _current
    _current = None
    for hook in list(_hooks) if caches else ():
        hook()
