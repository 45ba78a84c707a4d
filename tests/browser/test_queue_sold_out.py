"""Issue 20 in the portal: a citizen waiting in line learns from the poll that every place is
taken, stays in line, and can join the waitlist from there."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
import requests

from chalicelib.local.demo import DEMO_STAFF_PID, LEGEVAKT_HER_ID, SMITTEVERN_HER_ID
from tests.browser.conftest import Live
from tests.browser.test_citizen_portal import check, citizen, csp_page, sign_in_as
from tests.browser.test_queue import _timebook
from tests.live import WAIT_SECONDS

pytestmark = pytest.mark.browser


def test_the_line_is_told_it_is_sold_out_and_offered_the_waitlist(live: Live, browser: Any) -> None:
    tb = _timebook(live, waiting_room={"enabled": True, "admit_per_minute": 1})
    for n in range(9620, 9640):  # ahead in line: at one a minute, ours waits for 20 minutes
        ahead = live.token({"sub": citizen(n)["sub"], "role": "citizen", "name": f"Foran {n}"})
        auth = {"Authorization": f"Bearer {ahead}"}
        joined = requests.post(f"{live.api}/timebooks/{tb}/queue", headers=auth, timeout=30)
        assert joined.status_code == 201, joined.text
    page = csp_page(browser, live)
    page.clock.install()
    page.goto(f"{live.portal}/#/")
    sign_in_as(page, live, citizen(9614))
    page.goto(f"{live.portal}/#/timebok/{tb}")
    page.get_by_role("heading", name="Du står i kø").wait_for()
    assert page.locator(".queue-sold-out").is_hidden()

    # Staff close every slot: nothing is free. The next admission step (make run: every 5 s) sees it.
    orgs = [SMITTEVERN_HER_ID, LEGEVAKT_HER_ID]
    staff = live.token({"sub": DEMO_STAFF_PID, "role": "staff", "name": "Sara", "orgs": orgs})
    day = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()  # test_queue._timebook's one day
    slots = requests.get(f"{live.api}/timebooks/{tb}/slots?date={day}", timeout=WAIT_SECONDS).json()["items"]
    assert slots
    for slot in slots:
        path = f"{live.api}/admin/slots/{slot['id']}"
        closed = requests.patch(path, json={"closed": True}, headers={"Authorization": f"Bearer {staff}"}, timeout=30)
        assert closed.status_code == 200, closed.text

    # The page polls when its own clock says (up to 30 s apart): moved on a little at a time, so
    # the sign-in's token is not past its expiry on the page's clock.
    deadline = time.monotonic() + 120  # a busy machine: the stream, the publication, the next step
    while not page.locator(".queue-sold-out").is_visible():
        assert time.monotonic() < deadline, f"not told: {page.locator('main').inner_text()}"
        page.clock.run_for(5_000)
        time.sleep(0.5)
    told = page.locator(".queue-sold-out")  # the text is also announced in #status
    told.get_by_text("Alle ledige timer er tatt akkurat nå").wait_for()
    assert page.get_by_role("heading", name="Du står i kø").is_visible()  # still in line
    check(page, "nb", "32-ko-utsolgt", True)
    page.get_by_role("button", name="Sett meg på ventelisten").click()
    page.get_by_text("Vaksine i kø").first.wait_for()
    assert "#/venteliste" in page.url
    page.context.close()
