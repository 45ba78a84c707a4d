"""How long personal data lives (issue 23): a record's purpose ends (an appointment's end, a
waitlist entry's last change, an expiry), and `retention_days` of its timebook later what names a
person is erased. What stays is anonymous: timebook, day, status, duration, location."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

DEFAULT_RETENTION_DAYS = 90
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650

# What an erased person's id, name or phone becomes (audit keeps who did what, not who it was).
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
