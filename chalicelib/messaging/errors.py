"""How messaging logs a failure: by its type and AWS error code, never by its message text."""

from __future__ import annotations


def error_name(error: BaseException) -> str:
    """What went wrong, without the message text (which may quote data we must not log)."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(error).__name__}:{code}" if code else type(error).__name__


class RetryLater(Exception):
    """A notifier could not send now and nothing went: the consumer fails the message, so SQS
    delivers it again (and after the queue's maxReceiveCount, to the dead-letter queue)."""
