"""The every-minute schedule runs independent parts (tidy holds, waitlist offers, unfinished
closures, priority lists to stamp again): one part that fails must not keep the others from
their turn, and the failure must still fail the run (the Lambda's error alarm sees it)."""

from __future__ import annotations

import pytest

from chalicelib.booking import closures, housekeeping, queue, waitlist


@pytest.mark.parametrize("failing", ["waitlist", "closures", "queue"])
def test_a_failing_part_of_the_schedule_leaves_the_others_their_turn(
    monkeypatch: pytest.MonkeyPatch, aws: object, failing: str
) -> None:
    ran: list[str] = []
    parts = {
        "waitlist": (waitlist, "sweep"),
        "closures": (closures, "finish_unfinished"),
        "queue": (queue, "restamp_unfinished"),
    }
    for name, (module, function) in parts.items():

        def part(name: str = name) -> None:
            ran.append(name)
            if name == failing:
                raise RuntimeError(f"{name} failed")

        monkeypatch.setattr(module, function, part)
    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        housekeeping.release_expired_holds()
    assert ran == ["waitlist", "closures", "queue"]
