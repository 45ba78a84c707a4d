"""The outbox relay: moves events from DynamoDB's outbox to the SQS events queue (decision 3).

An event is written in the same transaction as the state change it tells of, so it exists if
and only if the change happened. The relay then publishes it and deletes it from the outbox;
an event that SQS refused stays in the outbox and is tried again. It runs two ways:

1. right after a commit, best effort, by the request that made the event (`relay_now`), so a
   confirmation reaches the inbox within a second; a failure there never fails the request;
2. every minute, by a schedule (`relay_pending`), which retries whatever is still in the
   outbox: events whose send failed, and those of requests that died between commit and send.

Both may send the same event (the request and the schedule racing, or a delete that failed
after a send). That is fine: SQS FIFO drops a repeated MessageDeduplicationId (the event id)
within five minutes, and the consumer writes each event's inbox message exactly once anyway.

Order: one appointment's events share a message group. When one of them fails to send, the
later events of that appointment wait for the next run rather than overtaking it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.messaging.publisher import Publisher, outbox_publisher
from chalicelib.storage import repository
from chalicelib.storage.models import OutboxItem

logger = logging.getLogger("timebok.messaging.relay")


@dataclass
class RelayResult:
    """`sent`: events that left the outbox; `failed`: events still in it, to be retried."""

    sent: int = 0
    failed: int = 0


def error_name(error: BaseException) -> str:
    """What went wrong, without the message text (which may quote data we must not log)."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(error).__name__}:{code}" if code else type(error).__name__


def relay_events(events: Iterable[OutboxItem], publisher: Publisher) -> RelayResult:
    """Publish each event and then delete it from the outbox; a failure leaves it for a retry."""
    result = RelayResult()
    held_back: set[str] = set()  # appointments with an unsent earlier event in this run
    for event in events:
        if event.appointment_id in held_back:
            result.failed += 1
            continue
        try:
            publisher.publish(event)
        except Exception as error:  # SQS down, throttled, refused: the outbox keeps the event
            held_back.add(event.appointment_id)
            result.failed += 1
            logger.warning(
                "relay: send failed (%s); event %s (%s) stays in the outbox",
                error_name(error),
                event.event_id,
                event.kind,
            )
            continue
        try:
            repository.delete_event(event)
        except Exception as error:  # sent, but still in the outbox: the next run sends a duplicate
            result.failed += 1
            logger.warning(
                "relay: sent event %s (%s) but could not delete it (%s)", event.event_id, event.kind, error_name(error)
            )
            continue
        result.sent += 1
    if result.failed:
        logger.info("relay: %d sent, %d left in the outbox", result.sent, result.failed)
    return result


def relay_pending(publisher: Publisher | None = None, limit: int = 200) -> RelayResult:
    """The schedule's run: relay up to `limit` events still in the outbox, oldest first."""
    events = repository.pending_events(limit)
    if not events:
        return RelayResult()
    return relay_events(events, publisher if publisher is not None else outbox_publisher())


def relay_now(events: Iterable[OutboxItem], publisher: Publisher | None = None) -> RelayResult:
    """Right after a commit, best effort: never raises; whatever is not sent the schedule sends."""
    pending = list(events)
    try:
        return relay_events(pending, publisher if publisher is not None else outbox_publisher())
    except Exception as error:  # e.g. no queue configured: the request has succeeded regardless
        logger.warning("relay: not relayed after commit (%s); the schedule will", error_name(error))
        return RelayResult(failed=len(pending))
