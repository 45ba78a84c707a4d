"""The live local stack WITH the guide's demo data, its OpenAPI document, and tokens for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.factories import make_pid
from tests.live import WAIT_SECONDS, local_stack

ROOT = Path(__file__).resolve().parents[2]
# The demo's HER-ids (chalicelib/local/demo.py): the fuzzing staff member administers both.
DEMO_ORGS = ["8100001", "8100002"]


@pytest.fixture(scope="session")
def fuzz_url() -> Iterator[str]:
    """`python -m chalicelib.local.runner` (demo data included) on a free port, as in tests/race."""
    with local_stack(demo=True) as url:
        yield url


def _token(url: str, claims: dict[str, Any]) -> str:
    response = requests.post(f"{url}/dev/token", json=claims, timeout=WAIT_SECONDS)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


@pytest.fixture(scope="session")
def fuzz_tokens(fuzz_url: str) -> dict[str, str]:
    """A bearer token per tag of the document: citizens for `citizen`, demo staff for `staff`."""
    citizen = _token(url=fuzz_url, claims={"sub": make_pid(9001), "role": "citizen", "name": "Fuzz Innbygger"})
    staff = _token(
        url=fuzz_url,
        claims={"sub": make_pid(9002), "role": "staff", "name": "Fuzz Saksbehandler", "orgs": DEMO_ORGS},
    )
    return {"citizen": citizen, "staff": staff}


def _get(url: str, path: str, token: str | None = None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(f"{url}{path}", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def _post(url: str, path: str, token: str, body: dict[str, Any]) -> Any:
    response = requests.post(f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code in (200, 201), (path, response.status_code, response.text)
    return response.json()


@pytest.fixture(scope="session")
def fuzz_world(fuzz_url: str, fuzz_tokens: dict[str, str]) -> dict[str, list[str]]:
    """Real ids of the demo (and a few holds and appointments of the fuzz citizen), by parameter name.

    Random ids only ever meet 404; the fuzz test swaps these in for about half the cases so the
    generated requests also reach the use cases and real answers are checked against the schemas.
    """
    from tests.conftest import KORONATEST_ANSWERS
    from tests.factories import make_phone

    url, citizen = fuzz_url, fuzz_tokens["citizen"]
    world: dict[str, list[str]] = {k: [] for k in ("hc", "timebook", "location", "date", "month", "slot", "hold")}
    world["appointment"] = []
    today = datetime.now(ZoneInfo("Europe/Oslo")).date()
    world["month"] = [today.strftime("%Y-%m"), (today.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")]
    for hc in _get(url, "/health-contacts")["items"]:
        world["hc"].append(hc["id"])
        for summary in _get(url, f"/health-contacts/{hc['id']}/timebooks")["items"]:
            timebook = _get(url, f"/timebooks/{summary['id']}")
            world["timebook"].append(timebook["id"])
            world["location"] += [loc["id"] for loc in timebook["locations"]]
            days = [
                d["date"]
                for month in world["month"]
                for d in _get(url, f"/timebooks/{timebook['id']}/calendar", month=month)["days"]
                if d["free"] > 0
            ][:3]
            world["date"] += [d for d in days if d not in world["date"]]
            path = f"/timebooks/{timebook['id']}/slots"
            slots = [s["id"] for day in days for s in _get(url, path, date=day)["items"]]
            world["slot"] += slots[:6]
            # One appointment per timebook (one active per person), requested or booked as the
            # timebook says, and one hold.
            answers = KORONATEST_ANSWERS if timebook["type"] == "koronatest" else {}
            body = {"slot_id": slots[-1], "phone": make_phone(9001), "answers": answers}
            # The hold first: at the limit (one active appointment) nobody gets a hold.
            world["hold"].append(_post(url, "/holds", citizen, {"slot_id": slots[-2]})["id"])
            world["appointment"].append(_post(url, "/appointments", citizen, body)["id"])
    assert world["appointment"] and world["hold"] and world["slot"], world
    return world
