"""How long personal data lives (issue 23): a record's purpose ends (an appointment's end, a
waitlist entry's last change, an expiry), and `retention_days` of its timebook later what names a
person is erased. What stays is anonymous: timebook, day, status, duration, location."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from chalicelib.domain.model import AuditRecord

DEFAULT_RETENTION_DAYS = 90
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650

# What an erased person's id, name or phone becomes (audit keeps who did what: a staff actor stays).
ERASED = "slettet"

RecordKind = Literal["appointment", "waitlist_entry", "person", "slot", "audit", "idempotency", "event", "sms"]


@dataclass(frozen=True)
class PersonalRecord:
    """A stored record that names a person, as the erasure sees it.

    `ref` is storage's own handle for it (opaque here). Without a timebook (`timebook_id` empty:
    idempotency records, event notes, SMS marks) the record is due when `ends_at` passes: it was only ever
    kept for a day or two, and TTL deletes it days late."""

    kind: RecordKind
    ref: str
    timebook_id: str
    ends_at: datetime

    def due(self, retention_days: int | None, now: datetime) -> bool:
        if not self.timebook_id:
            return self.ends_at <= now
        days = retention_days if retention_days is not None else DEFAULT_RETENTION_DAYS
        return self.ends_at + timedelta(days=days) <= now


# ---- the audit log: who did what stays, the person does not -----------------------------------

# Written before an audit record said its actor's role: each of these was behind a staff check
# (booking/audit.py's writers), so such an old record's actor is a staff member. Any other old
# record is read the safe way: its actor may be the person, and is erased.
_STAFF_ACTIONS_BEFORE_ROLES = frozenset(
    {"health_contact_created", "timebook_created", "location_added", "schedule_added", "slot_changed", "closure"}
    | {f"appointment_{t}" for t in ("confirm", "reject", "cancel", "reschedule", "arrive", "noshow")}
)
_ELEVEN_DIGITS = re.compile(r"(?<!\d)\d{11}(?!\d)")
_WEIGHTS = ((3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))


def actor_stays(actor_role: str | None, action: str) -> bool:
    """A staff member's id stays on what they did (the log's purpose); anyone else acting is the
    person themself (for themself or someone they represent), and their id goes with their data."""
    if actor_role is not None:
        return actor_role == "staff"
    return action in _STAFF_ACTIONS_BEFORE_ROLES


def _is_national_id(digits: str) -> bool:
    """Both mod-11 check digits hold (any fødselsnummer, D-, H- or synthetic number): a value
    that looks like one is treated as one, whatever its date says."""
    numbers = [int(c) for c in digits]
    for position, weights in zip((9, 10), _WEIGHTS, strict=True):
        check = 11 - sum(w * n for w, n in zip(weights, numbers, strict=False)) % 11
        if (0 if check == 11 else check) != numbers[position]:
            return False
    return True


def without_national_ids(value: Any) -> Any:
    """`value` (text, or lists and maps of it, as an audit record's target and detail are) with
    every national identity number in it replaced by ERASED."""
    if isinstance(value, str):
        return _ELEVEN_DIGITS.sub(lambda m: ERASED if _is_national_id(m.group()) else m.group(), value)
    if isinstance(value, Mapping):
        return {k: without_national_ids(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_national_ids(v) for v in value)
    return value


def erased_audit(record: AuditRecord) -> AuditRecord | None:
    """What a due audit record becomes: the actor erased unless staff, and every national id in
    its target and detail replaced; None when nothing in it names a person (it stays as it is)."""
    actor = record.actor if actor_stays(record.actor_role, record.action) else ERASED
    erased = replace(
        record,
        actor=actor,
        target=without_national_ids(record.target),
        detail=without_national_ids(dict(record.detail)),
    )
    return None if erased == record else erased
