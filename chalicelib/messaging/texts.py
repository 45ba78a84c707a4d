"""What the citizen reads in «Innboks»: one title and body per event kind, in Norwegian bokmål.

The wording follows the municipal guide where it has any («Din timereservasjon er bekreftet.»,
«Bestillingen er kun en forespørsel …») so that the inbox reads like the rest of the portal.
Times are shown in Europe/Oslo as the guide does: «5. okt. 2022, kl. 13:30».

Only the fields named here are read from the payload: the national identity number (`for_pid`)
and any phone number never reach a text, whatever else the payload carries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

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

# The abbreviations Helsenorge uses (short months have no full stop: «mars», «mai», «juni», «juli»).
MONTHS: tuple[str, ...] = (
    "jan.",
    "feb.",
    "mars",
    "apr.",
    "mai",
    "juni",
    "juli",
    "aug.",
    "sep.",
    "okt.",
    "nov.",
    "des.",
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


def format_time(value: str | datetime) -> str:
    """«5. okt. 2022, kl. 13:30», in Europe/Oslo whatever offset the input carries."""
    moment = parse_time(value) if isinstance(value, str) else value.astimezone(OSLO)
    return f"{moment.day}. {MONTHS[moment.month - 1]} {moment.year}, kl. {moment:%H:%M}"


def _lower_first(name: str) -> str:
    """«Koronatest» reads «Time til koronatest»; acronyms such as «PCR-test» keep their case."""
    first_word = name.split(" ", 1)[0]
    if len(first_word) > 1 and first_word[0].isupper() and first_word[1:].islower():
        return name[0].lower() + name[1:]
    return name


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return str(value).strip() if value is not None else ""


def _required(payload: Mapping[str, Any], key: str) -> str:
    value = _text(payload, key)
    if not value:
        raise ValueError(f"payload has no {key}")
    return value


def _appointment_line(payload: Mapping[str, Any], start: str | None = None) -> str:
    """The guide's heading of an appointment: «5. okt. 2022, kl. 13:30: Time til koronatest hos …»."""
    when = format_time(start or _required(payload, "start"))
    line = f"{when}: Time til {_lower_first(_required(payload, 'timebook_name'))}"
    contact = _text(payload, "health_contact_name")
    return f"{line} hos {contact}" if contact else line


def _place_line(payload: Mapping[str, Any]) -> str | None:
    place = ", ".join(part for part in (_text(payload, "location_name"), _text(payload, "location_address")) if part)
    return f"Oppmøtested: {place}" if place else None


def _reason_line(payload: Mapping[str, Any]) -> str | None:
    reason = _text(payload, "reason")
    return f"Begrunnelse: {reason}" if reason else None


def _body(*parts: str | None) -> str:
    return "\n".join(part for part in parts if part)


def _requested(payload: Mapping[str, Any]) -> tuple[str, str]:
    return "Timebestillingen er sendt", _body(
        "Takk for din henvendelse.",
        "Bestillingen er kun en forespørsel. Timen er ikke tildelt før du mottar en bekreftelse.",
        _appointment_line(payload),
        _place_line(payload),
    )


def _confirmed(payload: Mapping[str, Any]) -> tuple[str, str]:
    return "Timen er bekreftet", _body(
        "Din timereservasjon er bekreftet.",
        _appointment_line(payload),
        _place_line(payload),
    )


def _rejected(payload: Mapping[str, Any]) -> tuple[str, str]:
    return "Timebestillingen er avslått", _body(
        "Forespørselen din om time er dessverre avslått.",
        _reason_line(payload),
        _appointment_line(payload),
    )


def _cancelled(payload: Mapping[str, Any]) -> tuple[str, str]:
    return "Timen er avbestilt", _body(
        "Timen er avbestilt.",
        _reason_line(payload),
        _appointment_line(payload),
        _place_line(payload),
    )


def _rescheduled(payload: Mapping[str, Any]) -> tuple[str, str]:
    new_time = format_time(_required(payload, "start"))
    old_start = _text(payload, "old_start")
    return "Timen er flyttet", _body(
        f"Timen er flyttet til {new_time}.",
        f"Tidligere tidspunkt: {format_time(old_start)}." if old_start else None,
        "Endringen er kun en forespørsel. Timen er ikke tildelt før du mottar en bekreftelse."
        if _text(payload, "status") == "requested"
        else None,
        _appointment_line(payload),
        _place_line(payload),
    )


def _reminder(payload: Mapping[str, Any]) -> tuple[str, str]:
    return "Påminnelse om time i morgen", _body(
        "Husk at du har time i morgen.",
        _appointment_line(payload),
        _place_line(payload),
    )


def _offer(payload: Mapping[str, Any]) -> tuple[str, str]:
    """A waitlist offer: a place is held for the person until `expires_at`."""
    expires = _text(payload, "expires_at")
    return "Ledig time til deg fra ventelisten", _body(
        "En time har blitt ledig, og den er holdt av til deg.",
        f"Bestill den innen {format_time(expires)}, ellers går den videre til nestemann på ventelisten."
        if expires
        else None,
        _appointment_line(payload),
        _place_line(payload),
    )


def _closed(payload: Mapping[str, Any]) -> tuple[str, str]:
    """Staff closed the location or day: an appointment cancelled, or a waiting person told."""
    if _text(payload, "waitlist"):
        return "Stengt i perioden du venter på", _body(
            f"{_text(payload, 'health_contact_name') or 'Helsetjenesten'} har stengt "
            f"fra {format_time(_required(payload, 'start'))} til {format_time(_required(payload, 'end'))}.",
            _reason_line(payload),
            f"Du står fortsatt på ventelisten for {_lower_first(_required(payload, 'timebook_name'))}.",
        )
    return "Timen er avlyst", _body(
        "Timen er avlyst fordi oppmøtestedet er stengt.",
        _reason_line(payload),
        _appointment_line(payload),
        _place_line(payload),
    )


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], tuple[str, str]]] = {
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
    """(title, body) of the inbox message for an event; ValueError for an unknown kind or no start."""
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown inbox kind: {kind!r}")
    return builder(payload)
