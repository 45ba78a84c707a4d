"""Word by SMS: at most one SMS per inbox message, through Amazon SNS, to the number KRR gives.

The inbox stays the record; an SMS only tells of it, briefly, without health details. For the
kinds in SMS_KINDS (confirmation, change, cancellation, reminder, waitlist offer):

1. A mark per inbox message (storage/sms.py) decides who may send: the first delivery that wins
   its conditional `claim_sms` sends; every later delivery (SQS redelivers) finds the mark and
   stays quiet. The mark is claimed right BEFORE the send (after KRR answered) and finished after
   it, so a crash between the send and `finish_sms` leaves `sending`, which is never sent again:
   at most once (docs/sms.md says why not at least once). boto3 is told not to retry the publish
   itself, for the same reason.
2. Whom: KRR's answer for the person (`messaging/krr.py`): reserved, not registered, no notices
   or no mobile number: no SMS. The phone given at booking only when the person asked for it
   (`asked_for_booking_phone`).
3. When: reminders in the quiet hours (21:00-08:00 Europe/Oslo) are deferred to 08:00 (the mark
   waits in gsi2 SMS#DUE; `send_due` sends it, every few minutes).
4. A refusal (SNS answered an error or could not be reached; KRR down, before any claim) gives
   the claim back and raises RetryLater: the consumer reports the message failed, SQS redelivers it, and after the
   queue's maxReceiveCount it goes to the dead-letter queue (the inbox message is written already;
   a replay from there sends the SMS then).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from chalicelib import clock, i18n, metrics, settings
from chalicelib.messaging import krr
from chalicelib.messaging.errors import RetryLater, error_name
from chalicelib.messaging.texts import OSLO, parse_time
from chalicelib.storage import sms as marks

logger = logging.getLogger("timebok.messaging.sms")

SMS_KINDS = frozenset({"confirmed", "rescheduled", "cancelled", "closed", "reminder", "offer"})
LANGUAGES = ("nb", "nn", "en")
QUIET_FROM, QUIET_UNTIL = 21, 8  # Europe/Oslo hours: no reminder SMS from 21:00 until 08:00
MARK_DAYS = 30  # a mark outlives every redelivery of its message (SQS keeps messages 14 days at most)
LATE = timedelta(hours=6)  # a deferred reminder this late is dropped, not sent in the afternoon
RETRY_DEFERRED = timedelta(minutes=5)
# One person's SMS per Oslo day, at most: a loop of booking and cancelling must not spend the
# municipality's SMS budget or SNS's shared rate (the inbox still gets every message).
DAILY_LIMIT = 10

# ---- the texts: short, no health details, one place per language -----------------------------------

# The texts live in the language catalogues (chalicelib/i18n/{nb,nn,en}.json, keys `sms.*`): one
# catalogue per language for the pages, the inbox, the .ics and the SMS.


def language_of(source: Any) -> str:
    """The person's language (nb, nn, en): the one place it is read, from an appointment or a
    waitlist entry (`language`, default "nb"), or from an event's payload that carries it."""
    value = source.get("language", "nb") if isinstance(source, Mapping) else getattr(source, "language", "nb")
    return value if value in LANGUAGES else "nb"


def when(value: str, language: str, key: str = "sms.when") -> str:
    """«5. okt. kl. 13:30» (nb, nn) or «on 5 Oct at 13:30» (en), in Europe/Oslo."""
    moment = parse_time(value).astimezone(OSLO)
    month = i18n.text(language, f"when.month.{moment.month}")
    return i18n.text(language, key, day=moment.day, month=month, time=f"{moment:%H:%M}")


def sms_text(kind: str, payload: Mapping[str, Any], language: str) -> str:
    """The SMS of an inbox message; ValueError for a kind that gets none. Reads only the time,
    the health contact's name and an offer's expiry: never who, what for, answers or a reason."""
    if kind not in SMS_KINDS:
        raise ValueError(f"no SMS for {kind!r}")

    def texts(key: str, **values: Any) -> str:
        return i18n.text(language, f"sms.{key}", **values)

    name = str(payload.get("health_contact_name") or "").strip()
    expires = str(payload.get("expires_at") or "")
    line = texts(
        kind,
        when=when(str(payload["start"]), language),
        who=texts("who", name=name) if name else "",
        expires=when(expires, language, "sms.until") if expires else "",
    )
    return line if kind == "offer" else f"{line} {texts('more')}"


def gets_sms(kind: str, payload: Mapping[str, Any]) -> bool:
    """Appointment news of the kinds above, and a waitlist offer; a note to a waiting person
    about a closure is not (it changes nothing for them)."""
    if kind == "closed" and payload.get("waitlist") == "yes":
        return False
    return kind in SMS_KINDS and bool(payload.get("start"))


# ---- quiet hours --------------------------------------------------------------------------------


def quiet_until(now: datetime) -> datetime | None:
    """08:00 Oslo time when `now` is in the quiet hours, else None."""
    local = now.astimezone(OSLO)
    if QUIET_UNTIL <= local.hour < QUIET_FROM:
        return None
    day = local.date() if local.hour < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, QUIET_UNTIL, tzinfo=OSLO)


def _utc(moment: datetime) -> str:
    """Due times as UTC ISO text: one offset, so text order is time order (the SMS#DUE index)."""
    return moment.astimezone(UTC).isoformat()


# ---- whom --------------------------------------------------------------------------------------


def asked_for_booking_phone(payload: Mapping[str, Any]) -> str | None:
    """The phone given at booking, if (and only if) the person asked for SMS to it: the event's
    `sms_to_phone` is "yes" (the relay sets it, with the phone, for an appointment booked with
    `sms_to_phone: true`; docs/sms.md)."""
    if payload.get("sms_to_phone") != "yes":
        return None
    return krr.e164(str(payload.get("phone") or ""))


Lookup = Callable[[str], krr.Contact]


def krr_contact(pid: str) -> krr.Contact:
    return krr.lookup([pid])[pid]


def recipient(pid: str, payload: Mapping[str, Any], lookup: Lookup | None = None) -> str | None:
    """The number to write to, or None. KRR is asked every time (a reservation made yesterday
    counts today); a reserved person gets nothing, even to a number given at booking."""
    contact = (lookup or krr_contact)(pid)
    if contact.reserved:
        return None
    return asked_for_booking_phone(payload) or contact.sms_number


# ---- sending ------------------------------------------------------------------------------------


class SmsRefused(Exception):
    """SNS said no, or could not be reached: nothing was sent, so it may be tried again."""


class Sender(Protocol):
    def send(self, to: str, body: str) -> str: ...


def sender_id() -> str:
    """SNS's originator: at most 11 letters and digits, at least one letter."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", settings.get().sms_sender_id)[:11]
    return cleaned if re.search(r"[A-Za-z]", cleaned) else "Timebok"


class SnsSender:
    """Amazon SNS's Publish to a phone number, transactional, with the municipality's originator."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # One attempt only: a retried publish after a lost answer would be a second SMS.
            config = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})
            self._client = boto3.session.Session().client("sns", region_name=settings.get().region, config=config)
        return self._client

    def send(self, to: str, body: str) -> str:
        from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

        try:
            answer = self.client.publish(
                PhoneNumber=to,
                Message=body,
                MessageAttributes={
                    "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": sender_id()},
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                },
            )
        except (ClientError, EndpointConnectionError, ConnectTimeoutError) as error:
            raise SmsRefused(error_name(error)) from None  # an answer that says no, or no connection
        return str(answer.get("MessageId", ""))


_sender: Sender | None = None


def default_sender() -> Sender:
    global _sender
    if _sender is None:
        _sender = SnsSender()
    return _sender


def _forget() -> None:
    global _sender
    _sender = None


settings.on_reset(_forget)


def _ttl() -> int:
    return clock.epoch() + MARK_DAYS * 86400


def send_for_event(
    event_id: str,
    kind: str,
    pid: str,
    appointment_id: str,
    payload: Mapping[str, Any],
    *,
    sender: Sender | None = None,
    lookup: Lookup | None = None,
) -> str:
    """The SMS of one inbox message, at most once however often it is delivered. Answers what
    happened (sent, skipped, deferred, none, or the state a mark had already); RetryLater when
    it should be tried again."""
    if not gets_sms(kind, payload):
        return "none"
    mark = marks.sms_mark(event_id)
    if mark is not None and mark.state != "released":
        return mark.state  # sent, skipped, deferred (the schedule sends it) or sending (at most once)
    text = sms_text(kind, payload, language_of(payload))
    due = quiet_until(clock.now()) if kind == "reminder" else None
    if due is not None:  # no mark yet, or one given back after a refusal before 21:00
        detail = {"pid": pid, "appointment_id": appointment_id, "body": text}
        phone = asked_for_booking_phone(payload)
        if phone:
            detail.update(sms_to_phone="yes", phone=phone)
        marks.defer_sms(event_id, _utc(due), detail, _ttl())
        return "deferred"
    return _claim_and_send(event_id, pid, appointment_id, text, payload, sender, lookup)


def _claim_and_send(
    event_id: str,
    pid: str,
    appointment_id: str,
    text: str,
    payload: Mapping[str, Any],
    sender: Sender | None,
    lookup: Lookup | None,
    due: str | None = None,
) -> str:
    try:  # before the claim: a function cut short while KRR is slow must leave nothing claimed
        to = recipient(pid, payload, lookup)
    except krr.KrrUnavailable as error:
        metrics.count("SmsRefused")
        raise RetryLater(f"KRR: {error}") from None
    if not marks.claim_sms(event_id, _ttl()):
        return "taken"  # another delivery has it
    if to is None:
        marks.finish_sms(event_id, "skipped", {"appointment_id": appointment_id})
        return "skipped"
    today = clock.local(clock.now()).date().isoformat()
    if not marks.take_sms_quota(pid, today, DAILY_LIMIT, clock.epoch() + 2 * 86400):
        logger.warning("sms: event %s not sent: the person's daily SMS are used up", event_id)
        marks.finish_sms(event_id, "skipped", {"appointment_id": appointment_id, "why": "daily limit"})
        return "skipped"
    try:
        message_id = (sender or default_sender()).send(to, text)
    except SmsRefused as error:
        metrics.count("SmsRefused")
        marks.release_sms(event_id, due)
        raise RetryLater(f"SNS: {error}") from None
    except Exception as error:  # no answer: it may have gone; at most once, so never again
        logger.error("sms: event %s may or may not have been sent (%s); not tried again", event_id, error_name(error))
        return "sending"
    sent_at = clock.now().isoformat()
    marks.finish_sms(event_id, "sent", {"appointment_id": appointment_id, "sent_at": sent_at, "message_id": message_id})
    metrics.count("SmsSent")
    logger.info("sms: sent for event %s", event_id)
    return "sent"


def send_due(*, sender: Sender | None = None, lookup: Lookup | None = None) -> int:
    """Every few minutes: the reminders deferred past the quiet hours that are due now. One that
    is refused waits for the next run; one more than LATE past its time is dropped."""
    now = clock.now()
    sent = 0
    for mark in marks.due_sms(_utc(now)):
        detail = mark.detail
        due = datetime.fromisoformat(str(detail.get("due")))
        if now - due > LATE:
            if marks.claim_sms(mark.event_id, _ttl()):
                marks.finish_sms(mark.event_id, "skipped", {"appointment_id": detail.get("appointment_id", "")})
            continue
        try:
            done = _claim_and_send(
                mark.event_id,
                str(detail.get("pid", "")),
                str(detail.get("appointment_id", "")),
                str(detail.get("body", "")),
                detail,
                sender,
                lookup,
                due=_utc(now + RETRY_DEFERRED),
            )
        except RetryLater as error:
            logger.warning("sms: deferred event %s not sent yet (%s)", mark.event_id, error)
            continue
        sent += done == "sent"
    return sent


class SmsNotifier:
    """The Notifier of a stage with NOTIFIER=sms (notify.py): one SMS per inbox message."""

    exactly_once = True  # safe to call again on a redelivered message: the mark decides

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
        if not event_id or payload is None:
            return  # nothing to key the SMS by: no SMS rather than maybe two
        send_for_event(event_id, kind, pid, appointment_id, payload)
