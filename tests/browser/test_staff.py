"""Issue 21: staff run the day in the browser against `make run`: requests first (bulk confirm),
the day with its day list (print, CSV), capacity (schedule preview, overlap), a closure with its
preview and result, and the audit log. Each state is checked with axe at 390 and 1280 px and
photographed (conftest.check_page)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Live, check_page, new_page
from tests.browser.test_portal import _book_over_the_api, _koronatest, _sign_in
from tests.factories import make_pid

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
