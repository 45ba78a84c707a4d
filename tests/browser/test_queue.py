"""Issue 20 in the portal: a timebook whose waiting room is on puts the citizen in line; the page
shows the place and the estimated wait, polls when the API says (the page's clock is moved, not
waited for), moves on by itself once admitted, and the hold carries the ticket. A hold before the
person's wave says when it opens."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
import requests

from chalicelib.local.demo import DEMO_STAFF_PID, LEGEVAKT_HER_ID, SMITTEVERN_HER_ID
from tests.browser.conftest import Live
from tests.browser.test_citizen_portal import _wait_until, check, citizen, csp_page, sign_in_as
from tests.live import WAIT_SECONDS

pytestmark = pytest.mark.browser


def _post(live: Live, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    answer = requests.post(f"{live.api}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


def _timebook(live: Live, **settings: Any) -> str:
    staff = live.token(
        {"sub": DEMO_STAFF_PID, "role": "staff", "name": "Sara", "orgs": [SMITTEVERN_HER_ID, LEGEVAKT_HER_ID]}
    )
    contacts = requests.get(f"{live.api}/health-contacts", timeout=WAIT_SECONDS).json()["items"]
    contact = next(c for c in contacts if c["her_id"] == SMITTEVERN_HER_ID)
    body = {
        "health_contact_id": contact["id"],
        "name": "Vaksine i kø",
        "type": "vaksine",
        "resource": {"name": "Vaksinasjon"},
        "requires_confirmation": False,
        **settings,
    }
    tb = _post(live, "/admin/timebooks", body, staff)["id"]
    place = _post(live, f"/admin/timebooks/{tb}/locations", {"name": "Hallen", "address": "Gata 1"}, staff)
    day = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    schedule = {
        "location_id": place["id"],
        "from": day,
        "to": day,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": "08:00",
        "end_time": "09:00",
        "slot_minutes": 15,
        "capacity": 5,
    }
    _post(live, f"/admin/timebooks/{tb}/schedules", schedule, staff)
    return str(tb)


def test_the_citizen_waits_in_line_and_moves_on_by_itself(live: Live, browser: Any) -> None:
    tb = _timebook(live, waiting_room={"enabled": True, "admit_per_minute": 600})
    holds: list[dict[str, str]] = []
    page = csp_page(browser, live)
    page.on("request", lambda r: holds.append(r.headers) if r.method == "POST" and r.url.endswith("/holds") else None)
    page.clock.install()
    page.goto(f"{live.portal}/#/")
    sign_in_as(page, live, citizen(9601))
    page.goto(f"{live.portal}/#/timebok/{tb}")
    page.get_by_role("heading", name="Du står i kø").wait_for()
    assert "Du er nummer" in page.locator(".queue-position").inner_text()
    assert "Anslått ventetid" in page.locator(".queue-wait").inner_text()
    check(page, "nb", "30-ko", True)

    # The admission schedule of `make run` steps every 5 s; the page polls when its clock says
    # (up to 30 s apart). Its clock is moved on a little at a time, about ten times as fast as
    # real time: 30 s a look on a loaded machine had the page's clock past the sign-in token's
    # hour before the stack admitted it, and the page no longer signed in.
    def moved_on() -> bool:
        page.clock.run_for(5_000)
        time.sleep(0.5)
        return page.locator("h1").inner_text() != "Du står i kø"

    _wait_until(moved_on)
    assert page.get_by_role("button", name="Første ledige time").is_visible(), page.locator("main").inner_text()
    page.get_by_role("button", name="Første ledige time").click()
    page.get_by_role("heading", name="Se gjennom før du sender").wait_for()
    assert holds and "x-queue-ticket" in holds[-1], "the hold carries the ticket"
    page.context.close()


def test_a_hold_before_the_wave_says_when_it_opens(live: Live, browser: Any) -> None:
    opens = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=1)
    tb = _timebook(live, waves=[{"opens_at": opens.isoformat(), "born_from": "1900-01-01", "born_to": "2100-01-01"}])
    page = csp_page(browser, live)
    page.goto(f"{live.portal}/#/")
    sign_in_as(page, live, citizen(9602))
    page.goto(f"{live.portal}/#/timebok/{tb}")
    page.get_by_role("button", name="Første ledige time").click()
    page.get_by_text("Bestillingen åpner for din aldersgruppe").wait_for()
    check(page, "nb", "31-boelge-ikke-aapen", True)
    page.context.close()
