"""What every route shares: errors become the JSON error of API.md, the caller becomes a Principal."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from chalicelib import budget, metrics, settings
from chalicelib.domain.people import Principal
from chalicelib.http.auth import principal_from_context
from chalicelib.http.errors import CHALICE_CODES, body, internal_error, render, to_timebok_error

logger = logging.getLogger("timebok.http")


def handled(view: Callable[..., Response]) -> Callable[..., Response]:
    """Client errors become 4xx JSON; AWS throttling 429; a bug a bare 500 (logged without data)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        deadline = budget.start()
        status, code = 500, None  # what the answer was, for the business figures
        try:
            response = view(*args, **kwargs)
            status = response.status_code
            if waiting_rooms := sys.modules.get("chalicelib.booking.queue"):  # loaded: 429s may wait to be counted
                waiting_rooms.flush_shed()
            return response
        except Exception as error:
            mapped = to_timebok_error(error)
            if mapped is None:
                # Type and place only: an exception's text may carry personal data.
                tracebacks = settings.get().log_tracebacks  # tracebacks can quote personal data: local only
                logger.error("unhandled %s in %s", type(error).__name__, view.__name__, exc_info=tracebacks)
                status, headers, text = internal_error()
            else:
                if mapped.status >= 500 or mapped.status == 429:
                    logger.warning("aws fault %s in %s", type(error).__name__, view.__name__)
                if mapped.status == 429:
                    from chalicelib.booking import queue  # shed load slows the waiting rooms' admission

                    queue.note_shed()
                status, headers, text = render(mapped)
                code = mapped.code
            return Response(body=text, status_code=status, headers=headers)
        finally:
            budget.reset(deadline)
            metrics.answered(view.__name__, status, code)
            metrics.flush()  # once per invocation: this request's figures

    return wrapper


def principal(request: Request) -> Principal:
    return principal_from_context(request.context)


def reshape_chalice_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice answers some requests itself (405, 415, a bug); give them API.md's error body."""
    response = get_response(event)
    if response.status_code >= 400 and isinstance(response.body, dict) and "Code" in response.body:
        code, _ = CHALICE_CODES.get(response.body["Code"], ("internal_error", 500))
        if response.status_code >= 500:
            response.body = body("internal_error", "Something went wrong.")
        else:
            response.body = body(code, str(response.body.get("Message", "")))
        response.headers["Content-Type"] = "application/json"
        response.body = json.dumps(response.body)
    return response
