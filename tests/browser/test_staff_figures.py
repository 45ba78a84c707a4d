"""The staff page's live figures while `make run` serves a crowd: «Tall nå» shows this API
process's counters (GET /admin/figures) and moves on by itself as holds are made."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.browser.conftest import WAIT_MS, Live, check_page, new_page
from tests.browser.test_portal import _koronatest, _sign_in
from tests.factories import make_pid
from tests.race.test_race_http import _post


def test_staff_see_the_figures_move_while_citizens_hold(live: Live, browser: Any) -> None:
    staff = new_page(browser)
    staff.goto(f"{live.portal}/#/logg-inn?neste=staff")
    _sign_in(staff, "Sara, saksbehandler i kommunen")
    region = staff.get_by_role("complementary", name="Tall nå")
    region.wait_for(timeout=60_000)  # a busy machine: sign-in, the catalogue and the first figures
    holds = region.locator('dd[data-figure="Holds"]')
    before = int(holds.inner_text().replace("\xa0", "").replace(" ", "") or 0)
    check_page(staff, "staff-figures")

    koronatest = _koronatest(live)
    for n in (9461, 9462):
        token = live.token({"sub": make_pid(n), "role": "citizen", "name": f"Tall {n}"})
        made = _post(live.api, "/holds", {"timebook_id": koronatest["id"]}, token)  # a 429 is waited out
        assert made.status_code == 201, made.text
    staff.wait_for_function(
        "n => Number(document.querySelector('dd[data-figure=\"Holds\"]').textContent.replace(/\\s/g, '')) >= n",
        arg=before + 2,
        timeout=WAIT_MS,
    )
    assert staff.errors == []  # type: ignore[attr-defined]


def test_the_figures_stay_through_an_unreachable_moment_and_move_with_a_crowd(live: Live, browser: Any) -> None:
    """While a surge runs (a crowd holding at once, the API away for a moment), the figures keep
    showing: a failed refresh leaves the last ones (it used to hide the region), and the next
    counts every hold the crowd made."""
    staff = new_page(browser)
    staff.goto(f"{live.portal}/#/logg-inn?neste=staff")
    _sign_in(staff, "Sara, saksbehandler i kommunen")
    region = staff.get_by_role("complementary", name="Tall nå")
    region.wait_for(timeout=60_000)
    holds = region.locator('dd[data-figure="Holds"]')
    before = int(holds.inner_text().replace("\xa0", "").replace(" ", "") or 0)

    refused: list[str] = []
    staff.route("**/admin/figures", lambda route: (refused.append(route.request.url), route.abort()))
    deadline = time.monotonic() + WAIT_MS / 1000
    while not refused and time.monotonic() < deadline:
        staff.wait_for_timeout(250)  # the page's own 5 s refresh, not a fixed sleep of ours
    assert refused, "the page did not refresh its figures"
    assert region.is_visible()  # the last figures stay
    assert holds.inner_text().strip() != ""

    koronatest = _koronatest(live)
    people = [9470 + n for n in range(12)]

    def hold(n: int) -> int:
        token = live.token({"sub": make_pid(n), "role": "citizen", "name": f"Tall {n}"})
        return _post(live.api, "/holds", {"timebook_id": koronatest["id"]}, token).status_code

    with ThreadPoolExecutor(len(people)) as crowd:
        staff.unroute("**/admin/figures")
        made = list(crowd.map(hold, people))
    assert made == [201] * len(people), made
    staff.wait_for_function(
        "n => Number(document.querySelector('dd[data-figure=\"Holds\"]').textContent.replace(/\\s/g, '')) >= n",
        arg=before + len(people),
        timeout=WAIT_MS,
    )
    assert staff.errors == []  # type: ignore[attr-defined]
