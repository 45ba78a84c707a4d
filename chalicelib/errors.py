"""Errors a client can cause, each with the status and code of API.md.

Use cases raise these; the HTTP layer turns them into
`{"error": {"code", "message", "fields"?}}` with the status. Anything else is a bug (500).
"""

from __future__ import annotations


class TimebokError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or []
        self.headers = headers or {}
        self.extra: dict[str, str] = {}  # more members of the error object (e.g. not_open_yet's opens_at)


class InvalidInput(TimebokError):
    status = 400
    code = "invalid_request"


class Unauthorized(TimebokError):
    status = 401
    code = "unauthorized"


class Forbidden(TimebokError):
    status = 403
    code = "forbidden"


class NotFound(TimebokError):
    status = 404
    code = "not_found"


class Conflict(TimebokError):
    status = 409
    code = "conflict"


class HoldExpired(TimebokError):
    status = 410
    code = "hold_expired"


class Throttled(TimebokError):
    status = 429
    code = "throttled"

    def __init__(self, message: str = "Too many requests, try again shortly.", retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class Busy(Throttled):
    """Writes kept meeting concurrent transactions on the same item (storage/transactions.py): load."""

    code = "busy"

    def __init__(self) -> None:
        super().__init__("Busy right now, try again shortly.", retry_after=1)


class Unavailable(TimebokError):
    status = 503
    code = "service_unavailable"

    def __init__(self, message: str = "Temporarily unavailable, try again shortly.", retry_after: int = 2) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
