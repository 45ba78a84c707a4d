"""Issue 21: staff run the day in the browser against `make run`: requests first (bulk confirm),
the day with its day list (print, CSV), capacity (schedule preview, overlap), a closure with its
preview and result, and the audit log. Each state is checked with axe at 390 and 1280 px and
photographed (conftest.check_page)."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.browser.conftest import Live, check_page, new_page
from tests.browser.test_portal import _book_over_the_api, _koronatest, _sign_in
from tests.factories import make_pid
from tests.live import WAIT_SECONDS, free_port, local_stack

pytestmark = pytest.mark.browser


def test_staff_requests_first_bulk_confirm_day_list_capacity_closure_and_log(live: Live, browser: Any) -> None:
    koronatest = _koronatest(live)
    answers = {"symptomer": "ja", "naerkontakt": "nei", "utlandet": "nei", "helsepersonell": "nei"}
    people = []
    for n, name in ((9401, "Åse Ødegård"), (9402, "Per Personsen")):  # 93xx: the language walks
        token = live.token({"sub": make_pid(n), "role": "citizen", "name": name})
        people.append((name, _book_over_the_api(live, token, koronatest["id"], answers)))
    assert all(made["status"] == "requested" for _, made in people)

    staff = new_page(browser)
    staff.goto(f"{live.portal}/#/logg-inn?neste=staff")
    _sign_in(staff, "Sara, saksbehandler i kommunen")
    staff.get_by_role("heading", name="Ressursoversikt").wait_for()
    # Requests first: across timebooks, oldest first, with the count.
    staff.get_by_role("heading", name="Forespørsler som venter").wait_for()
    cards = staff.locator("#all-requests > li")
    cards.filter(has_text="Åse Ødegård").wait_for()
    staff.get_by_text("912 34 567").first.wait_for()
    check_page(staff, "staff-01-foresporsler")

    for name, _ in people:
        staff.get_by_label(f"Velg {name}").check()
    staff.get_by_role("button", name="Bekreft valgte").click()
    result = staff.locator("#result")
    result.get_by_text("2 forespørsler bekreftet.").wait_for()
    assert staff.evaluate("document.activeElement.id") == "result"
    check_page(staff, "staff-02-bekreftet")

    # The day: overview, the day list (printable, CSV) for the first booked day.
    day = people[0][1]["start"][:10]
    staff.get_by_label("Timebok").select_option(label="Koronatest")
    staff.get_by_label("Dato").fill(day)
    staff.get_by_role("button", name="Vis").click()
    daylist = staff.locator("section.daylist")
    daylist.get_by_role("rowheader", name="Åse Ødegård").wait_for()
    check_page(staff, "staff-03-dagsliste")
    with staff.expect_download() as download:
        daylist.get_by_role("button", name="Last ned som CSV").click()
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith("\ufeff".encode()) and "Åse Ødegård".encode() in raw
    staff.emulate_media(media="print")
    assert staff.locator("table.overview").is_hidden() and daylist.is_visible()
    staff.emulate_media(media="screen")

    # Capacity: a schedule with its preview, then the same again is an overlap.
    far = (datetime.date.today() + datetime.timedelta(days=200)).isoformat()
    staff.get_by_role("link", name="Kapasitet og stenging").click()
    form = staff.locator("form.schedule")
    form.get_by_label("Fra dato").fill(far)
    form.get_by_label("Til dato").fill(far)
    for box in form.locator("input[name=weekdays]").all():
        box.check()
    form.get_by_label("Åpner").fill("08:00")
    form.get_by_label("Stenger").fill("09:00")
    form.get_by_label("Minutter per time").fill("15")
    form.locator(".preview").get_by_text("4 tider").wait_for()
    check_page(staff, "staff-04-apningstider")
    form.get_by_role("button", name="Legg inn tidene").click()
    staff.locator("#result").get_by_text("4 nye tider er lagt inn.").wait_for()
    form = staff.locator("form.schedule")
    form.get_by_label("Fra dato").fill(far)
    form.get_by_label("Til dato").fill(far)
    for box in form.locator("input[name=weekdays]").all():
        box.check()
    form.get_by_label("Åpner").fill("08:10")  # other times over the same hours: an overlap
    form.get_by_label("Stenger").fill("09:10")
    form.get_by_role("button", name="Legg inn tidene").click()
    form.locator(".error-summary").get_by_text("overlapper").wait_for()
    check_page(staff, "staff-05-overlapp")

    # A closure: preview of who is affected, then the result.
    closure = staff.locator("form.closure")
    closure.get_by_label("Fra dato").fill(far)
    closure.get_by_label("Til og med dato").fill(far)
    closure.get_by_label("Begrunnelse (vises for innbyggerne)").fill("Teststasjonen mangler personale.")
    closure.get_by_role("button", name="Se hvem som berøres …").click()
    dialog = staff.get_by_role("dialog")
    dialog.get_by_text("4 tider stenges.").wait_for()
    check_page(staff, "staff-06-stenge")
    dialog.get_by_role("button", name="Steng").click()
    staff.locator("#result").get_by_text("Stengt: 4 tider stengt").wait_for()
    check_page(staff, "staff-07-stengt")

    staff.get_by_role("link", name="Venteliste").click()
    staff.get_by_role("heading", name="Venteliste:").wait_for()
    check_page(staff, "staff-08-venteliste")

    staff.get_by_role("link", name="Logg").click()
    staff.get_by_role("heading", name="Logg: hvem gjorde hva, og når").wait_for()
    staff.get_by_text("Bekreftet time").first.wait_for()
    check_page(staff, "staff-09-logg")
    assert not staff.errors, staff.errors
    staff.context.close()


# ---- check-in on the day, and a closure that goes on in the background ----------------------------

OSLO = ZoneInfo("Europe/Oslo")


def _staff_token(live: Live) -> str:
    from chalicelib.local.demo import DEMO_STAFF_PID, LEGEVAKT_HER_ID, SMITTEVERN_HER_ID

    claims = {"sub": DEMO_STAFF_PID, "role": "staff", "name": "Sara Saksbehandler"}
    return live.token({**claims, "orgs": [SMITTEVERN_HER_ID, LEGEVAKT_HER_ID]})


def _vaksine(live: Live) -> dict[str, Any]:
    contact = _koronatest(live)["health_contact"]["id"]
    found = next(b for b in live.get(f"/health-contacts/{contact}/timebooks")["items"] if b["type"] == "koronavaksine")
    return dict(live.get(f"/timebooks/{found['id']}"))


def _post(live: Live, path: str, body: dict[str, Any], token: str, status: int = 200) -> Any:
    answer = requests.post(
        f"{live.api}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=WAIT_SECONDS
    )
    assert answer.status_code == status, answer.text
    return answer.json()


def _book_slot(live: Live, token: str, slot_id: str) -> dict[str, Any]:
    hold = _post(live, "/holds", {"slot_id": slot_id}, token, 201)
    return dict(_post(live, "/appointments", {"hold_id": hold["id"], "phone": "912 34 567", "answers": {}}, token, 201))


def _citizen(live: Live, n: int, name: str) -> str:
    return live.token({"sub": make_pid(n), "role": "citizen", "name": name})


def _open_day(staff: Any, timebook: str, day: str) -> Any:
    staff.get_by_label("Timebok").select_option(label=timebook)
    staff.get_by_label("Dato").fill(day)
    staff.get_by_role("button", name="Vis").click()
    return staff.locator("section.daylist")


def test_staff_mark_arrived_and_noshow_on_the_day_only_and_never_for_a_cancelled_one(live: Live, browser: Any) -> None:
    vaksine = _vaksine(live)
    staff_token = _staff_token(live)
    # An evening hour today, after the demo's 08-10 and at least 20 minutes ahead.
    now = datetime.datetime.now(OSLO)
    start = max(now + datetime.timedelta(minutes=20), now.replace(hour=17, minute=0, second=0, microsecond=0))
    start = start.replace(minute=(start.minute // 15) * 15, second=0, microsecond=0) + datetime.timedelta(minutes=15)
    if start.hour >= 23 or start.date() != now.date():
        pytest.skip("too late in the day for a time today")
    today = now.date().isoformat()
    schedule = {
        "location_id": vaksine["locations"][0]["id"],
        "from": today,
        "to": today,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start_time": start.strftime("%H:%M"),
        "end_time": (start + datetime.timedelta(minutes=15)).strftime("%H:%M"),
        "slot_minutes": 15,
        "capacity": 3,
    }
    _post(live, f"/admin/timebooks/{vaksine['id']}/schedules", schedule, staff_token, 201)
    slot = next(
        s
        for s in live.get(f"/timebooks/{vaksine['id']}/slots?date={today}")["items"]
        if s["start"][11:16] == schedule["start_time"]
    )
    names = {9501: "Møtt Møttesen", 9502: "Borte Bortesen", 9503: "Avlyst Avlystesen"}
    made = {n: _book_slot(live, _citizen(live, n, name), slot["id"]) for n, name in names.items()}
    _post(live, f"/admin/appointments/{made[9503]['id']}/cancel", {"reason": "Feil time"}, staff_token)
    later = _book_over_the_api(live, _citizen(live, 9504, "Senere Senersen"), vaksine["id"], {})
    # The API refuses «Møtt» before the day, and for a cancelled appointment.
    for refused in (later["id"], made[9503]["id"]):
        assert (
            _post(live, f"/admin/appointments/{refused}/arrived", {}, staff_token, 409)["error"]["code"]
            == "wrong_state"
        )

    staff = new_page(browser)
    staff.goto(f"{live.portal}/#/logg-inn?neste=staff")
    _sign_in(staff, "Sara, saksbehandler i kommunen")
    staff.get_by_role("heading", name="Ressursoversikt").wait_for()
    daylist = _open_day(staff, "Koronavaksine", today)
    for name in names.values():
        daylist.get_by_role("rowheader", name=name).wait_for()
    cancelled = daylist.locator("tr", has=staff.get_by_role("rowheader", name="Avlyst Avlystesen"))
    assert cancelled.get_by_text("Avbestilt").is_visible() and cancelled.get_by_role("button").count() == 0
    check_page(staff, "staff-10-dagsliste-i-dag")

    daylist.get_by_role("button", name="Møtt: Møtt Møttesen", exact=True).click()
    staff.locator("#result").get_by_text("Møtt Møttesen er registrert som møtt.").wait_for()
    assert staff.evaluate("document.activeElement.id") == "result"
    daylist = staff.locator("section.daylist")
    row = daylist.locator("tr", has=staff.get_by_role("rowheader", name="Møtt Møttesen"))
    row.locator(".badge", has_text="Møtt").wait_for()
    assert row.get_by_role("button").count() == 0, "marked once: no more buttons"
    daylist.get_by_role("button", name="Ikke møtt: Borte Bortesen", exact=True).click()
    staff.locator("#result").get_by_text("Borte Bortesen er registrert som ikke møtt.").wait_for()
    row = staff.locator("section.daylist tr", has=staff.get_by_role("rowheader", name="Borte Bortesen"))
    row.locator(".badge", has_text="Ikke møtt").wait_for()
    check_page(staff, "staff-11-registrert")
    listed = live.get(f"/admin/timebooks/{vaksine['id']}/daylist?date={today}", staff_token)["items"]
    shown = {row["appointment_id"]: row["status"] for row in listed}
    assert [shown[made[n]["id"]] for n in names] == ["arrived", "noshow", "cancelled"]

    # Another day: the list, but no «Møtt» / «Ikke møtt» before the day.
    daylist = _open_day(staff, "Koronavaksine", later["start"][:10])
    daylist.get_by_role("rowheader", name="Senere Senersen").wait_for()
    daylist.get_by_text("«Møtt» og «Ikke møtt» kan registreres på selve dagen.").wait_for()
    assert daylist.get_by_role("button", name="Møtt: Senere Senersen", exact=True).count() == 0
    check_page(staff, "staff-12-dagsliste-annen-dag")
    assert not staff.errors, staff.errors
    staff.context.close()


@pytest.fixture(scope="module")
def live_background() -> Iterator[Live]:
    """A stack of its own whose closure requests do one step and leave the rest to the schedule
    (CLOSURE_BUDGET_SECONDS=0), as a big closure does: its local events finish it."""
    portal_port = free_port()
    os.environ["CLOSURE_BUDGET_SECONDS"] = "0"
    try:
        stack = local_stack(demo=True, portal_port=portal_port)
        api = stack.__enter__()  # the stack's process has its environment now
    finally:
        del os.environ["CLOSURE_BUDGET_SECONDS"]
    try:
        yield Live(api, f"http://127.0.0.1:{portal_port}")
    finally:
        stack.__exit__(None, None, None)


def test_a_closure_that_goes_on_in_the_background_shows_its_progress_until_complete(
    live_background: Live, browser: Any
) -> None:
    live = live_background
    vaksine = _vaksine(live)
    people = [(9511, "Først Førstesen"), (9512, "Andre Andersen")]
    booked = [_book_over_the_api(live, _citizen(live, n, name), vaksine["id"], {}) for n, name in people]
    day = booked[0]["start"][:10]
    assert all(b["start"][:10] == day for b in booked), booked

    staff = new_page(browser)
    staff.goto(f"{live.portal}/#/logg-inn?neste=staff")
    _sign_in(staff, "Sara, saksbehandler i kommunen")
    staff.get_by_role("heading", name="Ressursoversikt").wait_for()
    # A stack of its own answers its first staff reads cold: give the first view longer.
    staff.get_by_role("heading", name="Forespørsler som venter").wait_for(timeout=60_000)
    # The day is shown (its links now name the timebook), the booked people in its list.
    _open_day(staff, "Koronavaksine", day).get_by_role("rowheader", name=people[0][1]).wait_for()
    staff.get_by_role("link", name="Kapasitet og stenging").click()
    staff.locator("form.closure").wait_for()
    closure = staff.locator("form.closure")
    closure.get_by_label("Fra dato").fill(day)
    closure.get_by_label("Til og med dato").fill(day)
    closure.get_by_label("Begrunnelse (vises for innbyggerne)").fill("Vaksinen er ikke levert.")
    closure.get_by_role("button", name="Se hvem som berøres …").click()
    dialog = staff.get_by_role("dialog")
    dialog.get_by_role("button", name="Steng").wait_for()
    # The back end's preview, as the page asks for it (the demo may have more on that day).
    start, end = datetime.date.fromisoformat(day), datetime.date.fromisoformat(day) + datetime.timedelta(days=1)
    offset = lambda d: datetime.datetime(d.year, d.month, d.day, tzinfo=OSLO).isoformat()  # noqa: E731
    body = {"from": offset(start), "to": offset(end), "reason": "Vaksinen er ikke levert."}
    seen = _post(live, f"/admin/timebooks/{vaksine['id']}/closures/preview", body, _staff_token(live))
    assert seen["cancelled"] >= 2 and seen["people"] >= 2, seen
    shown = dialog.inner_text()
    assert f"{seen['closed_slots']} tider stenges." in shown, shown
    assert f"{seen['cancelled']} timer avlyses." in shown, shown
    assert f"I alt får {seen['people']} personer beskjed med begrunnelsen." in shown, shown
    check_page(staff, "staff-13-stenge-forhandsvisning")
    dialog.get_by_role("button", name="Steng").click()

    # The request did one step; the page follows GET /admin/closures/{id} while the stack's
    # every-minute schedule finishes the rest.
    progress = staff.locator("#closure-progress")
    progress.get_by_text("Stenger i bakgrunnen").wait_for()
    check_page(staff, "staff-14-stenger-i-bakgrunnen")
    staff.locator("#result").get_by_text(f"{seen['cancelled']} timer avlyst").wait_for(timeout=240_000)
    assert staff.locator("#result").get_by_text("Stengt:").is_visible()
    check_page(staff, "staff-15-stengt-i-bakgrunnen")
    listed = live.get(f"/admin/timebooks/{vaksine['id']}/daylist?date={day}", _staff_token(live))["items"]
    assert {row["appointment_id"]: row["status"] for row in listed} == {b["id"]: "cancelled" for b in booked}
    assert not staff.errors, staff.errors
    staff.context.close()


def test_a_late_redraw_does_not_paint_over_the_view_asked_after_it(live: Live, browser: Any) -> None:
    """Staff who move on while a view is still fetching see the view they asked for last: the
    older fetch answers late (held here until the newer view is asked) and is not drawn over it."""
    koronatest = _koronatest(live)
    contact = koronatest["health_contact"]["id"]
    vaksine = next(
        b for b in live.get(f"/health-contacts/{contact}/timebooks")["items"] if b["type"] == "koronavaksine"
    )
    day = datetime.datetime.now(ZoneInfo("Europe/Oslo")).date().isoformat()
    staff = new_page(browser)
    staff.goto(f"{live.portal}/#/logg-inn?neste=staff")
    _sign_in(staff, "Sara, saksbehandler i kommunen")
    staff.get_by_role("heading", name="Ressursoversikt").wait_for()
    staff.evaluate(
        """() => { window.drawn = []; new MutationObserver(() => {
             const p = document.querySelector("main .resource p");
             if (p) window.drawn.push(p.textContent);
           }).observe(document.querySelector("main"), { childList: true }); }"""
    )
    held: list[Any] = []
    overview = f"**/admin/timebooks/{koronatest['id']}/overview*"
    staff.route(overview, lambda route: held.append(route))
    with staff.expect_request(lambda r: "/overview" in r.url and koronatest["id"] in r.url):
        staff.evaluate(f"location.hash = '?vis=dag&timebok={koronatest['id']}&dato={day}'")
    assert staff.locator("main").get_attribute("aria-busy") == "true"
    staff.evaluate(f"location.hash = '?vis=dag&timebok={vaksine['id']}&dato={day}'")
    with staff.expect_response(lambda r: "/overview" in r.url and koronatest["id"] in r.url):
        for route in held:
            route.continue_()
    staff.unroute(overview)
    staff.locator("main .resource p").filter(has_text="Koronavaksine").wait_for()
    staff.wait_for_function("() => !document.querySelector('main').hasAttribute('aria-busy')")
    drawn = staff.evaluate("window.drawn")
    assert drawn and "Koronavaksine" in drawn[-1], drawn
    assert not any("Koronatest" in text for text in drawn), drawn
    assert staff.get_by_label("Timebok").evaluate("s => s.selectedOptions[0].textContent") == "Koronavaksine"
