"""The per-person rule: at most `max_active_per_person` active appointments per timebook.

A person has that many lanes in a timebook. An active appointment occupies one lane until the
appointment ends; a lane is free when it is empty or its appointment has ended. So an
appointment that has simply passed stops counting at once, with no staff action, no sweep and
no message: exactly as an expired hold stops blocking its place (domain/capacity.py). The
storage layer states the same rule as the condition of the write that takes a lane.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import Conflict


@dataclass(frozen=True)
class Lane:
    """One of a person's lanes (the per-person limit), taken by appointment `ref` until it ends."""

    ref: str  # the appointment id
    ends_at: int  # epoch seconds of the appointment's end

    def occupied(self, now_epoch: int) -> bool:
        return self.ends_at > now_epoch

    def as_item(self) -> dict[str, Any]:
        return {"ref": self.ref, "ends_at": self.ends_at}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Lane:
        return cls(str(item["ref"]), int(item["ends_at"]))


def free_lanes(limit: int | None, lanes: Mapping[int, Lane], now_epoch: int) -> list[int]:
    """Lanes a new appointment may take; with no limit there are none to take (and none needed)."""
    if limit is None:
        return []
    return [n for n in range(limit) if n not in lanes or not lanes[n].occupied(now_epoch)]


def active_appointment_exists() -> Conflict:
    return Conflict(
        "There is already an active appointment in this timebook for this person.", code="active_appointment_exists"
    )


def require_lane(limit: int | None, lanes: Mapping[int, Lane], now_epoch: int) -> int | None:
    """The lane a new hold or appointment takes (None: the timebook has no limit); 409 when the
    person has none free. The one home of "refuse if no free lane"."""
    free = free_lanes(limit, lanes, now_epoch)
    if limit is not None and not free:
        raise active_appointment_exists()
    return free[0] if free else None
