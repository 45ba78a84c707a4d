"""Availability summaries: what a day's slots have free, cheap to read and safe to be stale.

A summary keeps, per slot, its capacity, how many places appointments take, and the expiry of
each live hold. Free places are counted at read time, so a hold that expired after the summary
was made is free at once; only takings and cancellations since the last refresh are missed
(docs/capacity.md states how stale a summary may be). Writes never trust a summary: they go
through the capacity rule (domain/capacity.py) on the slot itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from chalicelib.clock import OSLO
from chalicelib.domain.capacity import Claim
from chalicelib.domain.slots import SlotRef


@dataclass(frozen=True)
class SlotSummary:
    """One slot of a day summary; `hhmm` is its local start (unique per day and location), with
    an "f" after it for the second occurrence of a wall-clock time on the autumn night."""

    hhmm: str
    capacity: int
    minutes: int
    booked: int  # places taken by anything but a hold (appointments)
    holds: tuple[int, ...]  # expiry (epoch seconds) of each hold that was live when summarised

    def free(self, now_epoch: int) -> int:
        live_holds = sum(1 for expires in self.holds if expires > now_epoch)
        return max(0, self.capacity - self.booked - live_holds)

    @property
    def fold(self) -> int:
        return 1 if self.hhmm.endswith("f") else 0

    def local_start(self, day: date) -> datetime:
        """Wall clock in Oslo, as slots are made (domain/slots.py)."""
        return datetime.combine(day, time(int(self.hhmm[:2]), int(self.hhmm[2:4])))

    def start(self, day: date) -> datetime:
        return self.local_start(day).replace(tzinfo=OSLO, fold=self.fold)

    def end(self, day: date) -> datetime:
        # Real minutes after the start (slots are stepped in UTC): right across a DST change too.
        return (self.start(day).astimezone(UTC) + timedelta(minutes=self.minutes)).astimezone(OSLO)

    def as_item(self) -> dict[str, Any]:
        return {"c": self.capacity, "m": self.minutes, "b": self.booked, "h": list(self.holds)}

    @classmethod
    def from_item(cls, hhmm: str, item: Mapping[str, Any]) -> SlotSummary:
        holds = tuple(int(h) for h in item.get("h", []))
        return cls(hhmm, int(item["c"]), int(item["m"]), int(item.get("b", 0)), holds)


@dataclass(frozen=True)
class DaySummary:
    """The summary of one timebook's slots at one location on one local date, as last counted
    (`refreshed_at`, epoch milliseconds; 0: recount before use). `version` grows when slots are
    added, so a recount made before that is not stored over them."""

    timebook_id: str
    location_id: str
    date: str  # the local date, YYYY-MM-DD
    entries: tuple[SlotSummary, ...]  # by local start
    refreshed_at: int
    version: int

    @property
    def day(self) -> date:
        return date.fromisoformat(self.date)

    def refs(self) -> list[SlotRef]:
        """The slots it lists, by start."""
        return [SlotRef(self.timebook_id, self.location_id, e.local_start(self.day), e.fold) for e in self.entries]


def summarize(hhmm: str, capacity: int, minutes: int, claims: Mapping[int, Claim], now_epoch: int) -> SlotSummary:
    """A slot's summary from its claims: only places within capacity and live claims count."""
    live = [c for place, c in claims.items() if place < capacity and c.live(now_epoch)]
    holds = tuple(sorted(c.expires_at for c in live if c.kind == "hold"))
    return SlotSummary(hhmm, capacity, minutes, len(live) - len(holds), holds)


def empty(hhmm: str, capacity: int, minutes: int) -> SlotSummary:
    return SlotSummary(hhmm, capacity, minutes, 0, ())


@dataclass(frozen=True)
class PublishedSlot:
    """A slot as an availability document publishes it (booking/availability_docs.py): its free
    places when published, and the expiry of each hold that was live then, so a reader counts a
    hold that has expired since as free at once, as the summaries do."""

    slot_id: str
    location_id: str
    date: str  # the local date, YYYY-MM-DD
    start: str  # ISO 8601 with offset, Oslo
    end: str
    free_when_published: int
    holds: tuple[int, ...]  # expiry (epoch seconds) of the holds live when published

    def free(self, now_epoch: int) -> int:
        return self.free_when_published + sum(1 for expires in self.holds if expires <= now_epoch)

    def as_item(self) -> list[Any]:
        return [
            self.slot_id,
            self.location_id,
            self.date,
            self.start,
            self.end,
            self.free_when_published,
            list(self.holds),
        ]

    @classmethod
    def from_item(cls, item: list[Any]) -> PublishedSlot:
        slot_id, location_id, day, start, end, free, holds = item
        return cls(slot_id, location_id, day, start, end, int(free), tuple(int(h) for h in holds))


def held_until(offered_places: int, claims: Mapping[int, Claim], now_epoch: int) -> tuple[int, ...]:
    """The expiries of the live holds on places a slot offers (a closed slot offers none)."""
    return tuple(
        sorted(c.expires_at for p, c in claims.items() if p < offered_places and c.kind == "hold" and c.live(now_epoch))
    )


def months_from(day: date, count: int) -> list[str]:
    """The names ("YYYY-MM") of `count` months from the month of `day` on: the months "first
    available", the waiting room's step and the publisher's backstop look at."""
    return [f"{day.year + (day.month - 1 + n) // 12:04d}-{(day.month - 1 + n) % 12 + 1:02d}" for n in range(count)]
