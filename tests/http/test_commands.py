"""The HTTP edge turns validated request models into the use cases' commands; an Idempotency-Key's
request hash is the same as when the use cases hashed the request model (a retry across the
change still matches), and it tells different bodies apart."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.booking import commands
from chalicelib.booking.idempotency import request_hash_of
from chalicelib.http import schemas
from chalicelib.http.commands import to_command
from chalicelib.lazy import LazyModule, lazy_module


def _model_hash(body: Any) -> str:
    """How booking/common.py hashed the pydantic request model before commands existed. A field
    added since, `sms_to_phone`, is in the hash only when true (a body without it hashes as before)."""
    dumped = body.model_dump(mode="json")
    if dumped.get("sms_to_phone") is False:
        del dumped["sms_to_phone"]
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


BODIES = [
    schemas.HoldIn(slot_id="tb1#loc1#2026-03-29T08:00"),
    schemas.HoldIn.model_validate({"timebook_id": "tb1", "location_id": "loc1", "date": "2026-10-25"}),
    schemas.HoldIn(timebook_id="tb1", for_pid="24085038849"),
    schemas.AppointmentIn(hold_id="h1", phone="+47 912 34 567", answers={"q1": "ja", "q2": True, "q3": 3}),
    schemas.AppointmentIn(slot_id="s1", phone="91234567", description="Hoste", for_pid="24085038849"),
    schemas.AppointmentIn(
        slot_id="s1", phone="91234567", description="Hoste", for_pid="24085038849", sms_to_phone=True
    ),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
def test_a_command_hashes_as_its_request_model_did(body: Any) -> None:
    assert request_hash_of(to_command(body)) == _model_hash(body)


def test_different_bodies_hash_differently() -> None:
    hashes = {request_hash_of(to_command(body)) for body in BODIES}
    assert len(hashes) == len(BODIES)


def test_every_request_model_that_a_use_case_takes_has_a_command() -> None:
    made = {
        type(to_command(body))
        for body in [
            schemas.HealthContactIn(organisation="Kommune", service="Lab", her_id="1"),
            schemas.TimebookIn.model_validate(
                {
                    "health_contact_id": "hc1",
                    "name": "Lab",
                    "type": "lab",
                    "resource": {"name": "Lab"},
                    "form": {"questions": [{"id": "q1", "text": "Feber?"}]},
                }
            ),
            schemas.LocationIn(name="Sted", address="Gaten 1"),
            schemas.ScheduleIn.model_validate(
                {
                    "location_id": "loc1",
                    "from": "2026-03-02",
                    "to": "2026-03-02",
                    "weekdays": [1],
                    "start_time": "08:00",
                    "end_time": "09:00",
                    "slot_minutes": 15,
                    "capacity": 1,
                }
            ),
            schemas.SlotPatchIn(capacity=2),
            schemas.ClosureIn.model_validate(
                {"from": "2026-03-02T08:00:00+01:00", "to": "2026-03-02T12:00:00+01:00", "reason": "Stengt"}
            ),
            schemas.WaitlistIn(timebook_id="tb1"),
            *BODIES,
        ]
    }
    assert all(c.__module__.startswith(f"{commands.__name__}.") for c in made)  # booking/commands/*.py
    assert len(made) == 9


@pytest.fixture
def module_name(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of this test's own, not imported yet (slow to import, to widen a race)."""
    name = f"lazy_sample_{threading.get_ident()}_{id(tmp_path)}"
    (tmp_path / f"{name}.py").write_text(
        "import time\ntime.sleep(0.2)\n\ndef answer() -> int:\n    return 42\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_lazy_module_imports_on_first_use_and_sees_a_patched_module(
    module_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lazy = lazy_module(module_name)
    assert isinstance(lazy, LazyModule) and module_name not in sys.modules
    assert lazy.answer() == 42
    assert module_name in sys.modules
    monkeypatch.setattr(sys.modules[module_name], "answer", lambda: 7)
    assert lazy.answer() == 7
    assert lazy_module(module_name) is sys.modules[module_name]  # already imported: the module itself


def test_a_lazy_module_is_safe_when_threads_touch_it_first_together(module_name: str) -> None:
    lazy = lazy_module(module_name)
    seen: list[object] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def touch() -> None:
        start.wait()
        try:
            seen.append(lazy.answer)
        except BaseException as error:  # an attribute read mid-import would land here
            failures.append(error)

    threads = [threading.Thread(target=touch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == [] and len(seen) == 8 and len({id(s) for s in seen}) == 1
