"""The bench's two set-up fixes: a surge whose slots do not fit in its one day is refused with a
clear message (it used to ask for an end time of "28:50"), and the package size is read where
`make package` writes the zip (build/prod/deployment.zip, scripts/package.deployment_zip)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from scripts.bench import package_size
from scripts.bench.__main__ import parse_args
from scripts.bench.surge import MAX_SLOTS_PER_DAY, Answer, SurgeSize, make_surge_timebook, slowdown
from scripts.package import BUILD, deployment_zip

pytestmark = pytest.mark.fast


class FakeHttp:
    """Answers every set-up POST with 201, and a schedule with as many slots as its times make."""

    def __init__(self) -> None:
        self.schedules: list[dict[str, Any]] = []

    def post(self, path: str, body: dict[str, Any], token: str) -> Answer:
        if path.endswith("/schedules"):
            self.schedules.append(body)
            start, end = (int(body[k][:2]) * 60 + int(body[k][3:]) for k in ("start_time", "end_time"))
            return Answer(201, {"created": (end - start) // body["slot_minutes"]}, {}, 0.0)
        return Answer(201, {"id": "x1"}, {}, 0.0)


def test_the_default_surge_fits_in_a_day() -> None:
    assert SurgeSize(2000, 200, 2, 32).problem() is None


def test_the_largest_day_ends_at_a_real_time() -> None:
    size = SurgeSize(10, MAX_SLOTS_PER_DAY, 1, 1)
    assert size.problem() is None
    http = FakeHttp()
    make_surge_timebook(http, "7777", size)  # type: ignore[arg-type]
    assert http.schedules[0]["end_time"] == "23:55" and http.schedules[0]["slot_minutes"] == 5


def test_too_many_slots_for_a_day_are_refused_with_what_to_do() -> None:
    size = SurgeSize(2000, 400, 1, 32)
    problem = size.problem()
    assert problem is not None and "400 slots" in problem and "--capacity 3" in problem
    http = FakeHttp()
    with pytest.raises(ValueError, match="five-minute slots"):
        make_surge_timebook(http, "7777", size)  # type: ignore[arg-type]
    assert http.schedules == []  # refused before asking for an impossible end time


def test_the_command_line_refuses_it_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--places", "400", "--capacity", "1"])
    assert "--capacity 3" in capsys.readouterr().err


def test_the_package_is_looked_for_where_make_package_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deployment_zip() == BUILD / "prod" / "deployment.zip"
    import scripts.package

    monkeypatch.setattr(scripts.package, "BUILD", tmp_path)
    assert package_size.measure_package()["present"] is False
    deployment_zip().parent.mkdir()
    with zipfile.ZipFile(deployment_zip(), "w") as archive:
        archive.writestr("app.py", "x" * 100)
    found = package_size.measure_package()
    assert found["present"] and found["files"] == 1 and found["unzipped_bytes"] == 100
    with zipfile.ZipFile(deployment_zip(), "a") as archive:
        archive.writestr("__pycache__/app.cpython-311.pyc", "y" * 40)  # scripts/package.add_bytecode's
    found = package_size.measure_package()
    assert (found["bytecode_files"], found["bytecode_unzipped_bytes"], found["unzipped_bytes"]) == (1, 40, 140)


def test_readers_slowdown_is_the_sold_out_time_against_the_run_without_them() -> None:
    without = {"booked": 200, "places": 200, "last_booking_seconds": 40.0}
    assert slowdown(without, {"booked": 200, "places": 200, "last_booking_seconds": 42.0}) == 1.05
    assert slowdown(without, {"booked": 199, "places": 200, "last_booking_seconds": 42.0}) is None  # not sold out
    assert slowdown({**without, "booked": 150}, {"booked": 200, "places": 200, "last_booking_seconds": 1.0}) is None


def test_readers_pause_from_the_command_line() -> None:
    args = parse_args(["--readers", "4", "--reader-pause", "0.5"])
    assert (args.readers, args.reader_pause) == (4, 0.5)
