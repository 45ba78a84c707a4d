"""What the citizen reads in «Innboks»: one title and body per event kind, in the person's language.

The words come from the text catalogue of the language the appointment or waitlist entry was
made in (chalicelib/i18n/: `message.*`, `when.*`; the payload's `language`, bokmål when it has
none). The bokmål wording follows the municipal guide where it has any («Din timereservasjon er
bekreftet.», «Bestillingen er kun en forespørsel …») so that the inbox reads like the rest of the
portal. Times are shown in Europe/Oslo as the guide does: «5. okt. 2022, kl. 13:30».

Only the fields named here are read from the payload: the national identity number (`for_pid`)
and any phone number never reach a text, whatever else the payload carries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chalicelib import i18n
from chalicelib.clock import OSLO

KINDS: tuple[str, ...] = (
    "requested",
    "confirmed",
    "rejected",
    "cancelled",
    "rescheduled",
    "reminder",
    "offer",
    "closed",
)


def parse_time(value: str) -> datetime:
    """An ISO 8601 time as an aware datetime in Oslo; a time without offset is read as Oslo time."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from error
    if moment.tzinfo is None:
        return moment.replace(tzinfo=OSLO)
    return moment.astimezone(OSLO)


def format_time(value: str | datetime, language: str = i18n.DEFAULT) -> str:
    """«5. okt. 2022, kl. 13:30» (en: «5 Oct 2022, 13:30»), in Europe/Oslo whatever offset the input carries."""
    moment = parse_time(value) if isinstance(value, str) else value.astimezone(OSLO)
    return i18n.format_time(moment, language)


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return str(value).strip() if value is not None else ""


def _required(payload: Mapping[str, Any], key: str) -> str:
    value = _text(payload, key)
    if not value:
        raise ValueError(f"payload has no {key}")
    return value


class _Words:
    """One message's words: the catalogue of the payload's language, and its times formatted so."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.payload = payload
        self.language = i18n.known(payload.get("language"))

    def __call__(self, key: str, **values: Any) -> str:
        return i18n.text(self.language, f"message.{key}", **values)

    def time(self, value: str) -> str:
        return format_time(value, self.language)

    def appointment_line(self, start: str | None = None) -> str:
        """The guide's heading of an appointment: «5. okt. 2022, kl. 13:30: Time til koronatest hos …»."""
        when = self.time(start or _required(self.payload, "start"))
        timebook = i18n.in_sentence(_required(self.payload, "timebook_name"))
        contact = _text(self.payload, "health_contact_name")
        if contact:
            return self("heading", when=when, timebook=timebook, contact=contact)
        return self("heading_no_contact", when=when, timebook=timebook)

    def place_line(self) -> str | None:
        parts = (_text(self.payload, "location_name"), _text(self.payload, "location_address"))
        place = ", ".join(part for part in parts if part)
        return self("place", place=place) if place else None

    def reason_line(self) -> str | None:
        reason = _text(self.payload, "reason")
        return self("reason", reason=reason) if reason else None


def _body(*parts: str | None) -> str:
    return "\n".join(part for part in parts if part)


def _requested(w: _Words) -> tuple[str, str]:
    return w("requested.title"), _body(w("requested.lead"), w("request_only"), w.appointment_line(), w.place_line())


def _confirmed(w: _Words) -> tuple[str, str]:
    return w("confirmed.title"), _body(w("confirmed.lead"), w.appointment_line(), w.place_line())


def _rejected(w: _Words) -> tuple[str, str]:
    return w("rejected.title"), _body(w("rejected.lead"), w.reason_line(), w.appointment_line())


def _cancelled(w: _Words) -> tuple[str, str]:
    return w("cancelled.title"), _body(w("cancelled.lead"), w.reason_line(), w.appointment_line(), w.place_line())


def _rescheduled(w: _Words) -> tuple[str, str]:
    new_time = w.time(_required(w.payload, "start"))
    old_start = _text(w.payload, "old_start")
    return w("rescheduled.title"), _body(
        w("rescheduled.lead", when=new_time),
        w("rescheduled.before", when=w.time(old_start)) if old_start else None,
        w("rescheduled.request_only") if _text(w.payload, "status") == "requested" else None,
        w.appointment_line(),
        w.place_line(),
    )


def _reminder(w: _Words) -> tuple[str, str]:
    return w("reminder.title"), _body(w("reminder.lead"), w.appointment_line(), w.place_line())


def _offer(w: _Words) -> tuple[str, str]:
    """A waitlist offer: a place is held for the person until `expires_at`."""
    expires = _text(w.payload, "expires_at")
    return w("offer.title"), _body(
        w("offer.lead"),
        w("offer.until", when=w.time(expires)) if expires else None,
        w.appointment_line(),
        w.place_line(),
    )


def _closed(w: _Words) -> tuple[str, str]:
    """Staff closed the location or day: an appointment cancelled, or a waiting person told."""
    payload = w.payload
    if _text(payload, "waitlist"):
        return w("closed_waiting.title"), _body(
            w(
                "closed_waiting.lead",
                contact=_text(payload, "health_contact_name") or w("closed_waiting.contact"),
                start=w.time(_required(payload, "start")),
                end=w.time(_required(payload, "end")),
            ),
            w.reason_line(),
            w("closed_waiting.still", timebook=i18n.in_sentence(_required(payload, "timebook_name"))),
        )
    return w("closed.title"), _body(w("closed.lead"), w.reason_line(), w.appointment_line(), w.place_line())


_BUILDERS: dict[str, Callable[[_Words], tuple[str, str]]] = {
    "requested": _requested,
    "confirmed": _confirmed,
    "rejected": _rejected,
    "cancelled": _cancelled,
    "rescheduled": _rescheduled,
    "reminder": _reminder,
    "offer": _offer,
    "closed": _closed,
}


def inbox_text(kind: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """(title, body) of the inbox message for an event, in the payload's `language` (bokmål when
    it has none or one we do not speak); ValueError for an unknown kind or no start."""
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown inbox kind: {kind!r}")
    return builder(_Words(payload))
