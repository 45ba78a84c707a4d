"""Telling the citizen beyond the inbox (SMS, e-mail) that a new message is waiting.

The inbox is the record; a notification only points to it. Notifiers must not log or carry more
personal data than the gateway needs: no identity number, phone or message text in logs.
"""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger("timebok.messaging.notify")


class Notifier(Protocol):
    """Sends one notification for a new inbox message; `pid` is whom to look up a channel for."""

    def notify(self, pid: str, kind: str, title: str, body: str, appointment_id: str) -> None: ...


class LoggingNotifier:
    """Stands in for a gateway: records that a notification would go out, and nothing personal."""

    def notify(self, pid: str, kind: str, title: str, body: str, appointment_id: str) -> None:
        logger.info("notify: %s for appointment %s", kind, appointment_id)


_configured: Notifier = LoggingNotifier()


def notifier() -> Notifier:
    """The notifier of this deployment.

    An SMS or e-mail gateway plugs in here: e.g. choose by an environment variable
    (NOTIFIER=sms) and return an SmsNotifier that looks up the contact details for `pid`
    from the appointment or the person's registry entry and sends a short text without health
    details («Du har fått en ny melding på Helsenorge»).
    """
    return _configured
