"""Telling the citizen beyond the inbox (SMS) that something happened to their appointment.

The inbox is the record; a notification only points to it. Notifiers must not log or carry more
personal data than the gateway needs: no identity number, phone or message text in logs.

The stage chooses (NOTIFIER): "sms" sends through Amazon SNS to the number the contact register
(KRR) gives (messaging/sms.py, docs/sms.md); "log" (the default) only records that a
notification would go out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from chalicelib import settings

logger = logging.getLogger("timebok.messaging.notify")


class Notifier(Protocol):
    """Sends one notification for an inbox message; `pid` is whom to look up a channel for,
    `event_id` the inbox message's id (what makes it once), `payload` the event's.

    The consumer calls it when the inbox message is new, and also on a redelivery when the
    notifier says it is safe to (`exactly_once = True`: it keeps its own once-only mark).
    Raising errors.RetryLater has the message delivered again; anything else is logged and dropped."""

    def notify(
        self,
        pid: str,
        kind: str,
        title: str,
        body: str,
        appointment_id: str,
        *,
        event_id: str = "",
        payload: Mapping[str, Any] | None = None,
    ) -> None: ...


class LoggingNotifier:
    """Stands in for a gateway: records that a notification would go out, and nothing personal."""

    def notify(
        self,
        pid: str,
        kind: str,
        title: str,
        body: str,
        appointment_id: str,
        *,
        event_id: str = "",
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        logger.info("notify: %s for appointment %s", kind, appointment_id)


_configured: Notifier | None = None


def notifier() -> Notifier:
    """The notifier of this deployment (NOTIFIER: "sms" or "log"), made once per process."""
    global _configured
    if _configured is None:
        if settings.get().notifier == "sms":
            from chalicelib.messaging.sms import SmsNotifier

            _configured = SmsNotifier()
        else:
            _configured = LoggingNotifier()
    return _configured


def _forget() -> None:
    global _configured
    _configured = None


settings.on_reset(_forget)


# ---- what a local SMS stand-in took (GET /dev/sms) ----------------------------------------------
# The stand-in lives in chalicelib/local/, which the deployed zip has not: it registers its reader
# here when `make run` starts it, as the local OpenID provider registers its signer (http/tokens.py).

_sms_capture: Callable[[], list[dict[str, Any]]] | None = None


def set_sms_capture(reader: Callable[[], list[dict[str, Any]]] | None) -> None:
    global _sms_capture
    _sms_capture = reader


def captured_sms() -> list[dict[str, Any]] | None:
    """The SMS the local stand-in took, oldest first; None when no stand-in runs here."""
    reader = _sms_capture
    return reader() if reader is not None else None
