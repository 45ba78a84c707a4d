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


@dataclass(frozen=True)
class Lane:
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
