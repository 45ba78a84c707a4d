"""Staff turn a timebook's waiting room on and edit its waves in the browser (issue 20): saved over
PATCH /admin/timebooks/{id}, a server's field error shown at its field, and another staff member's
change meanwhile told, not overwritten. Checked with axe at 390 and 1280 px."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.browser.conftest import WAIT_MS, Live, check_page, new_page
from tests.browser.test_portal import _koronatest, _sign_in
from tests.browser.test_staff import _staff_token
from tests.factories import make_pid
from tests.live import WAIT_SECONDS

pytestmark = pytest.mark.browser


def _own_timebook(live: Live, token: str) -> str:
    """A timebook of this test's own: the demo's timebooks stay as the other walks expect them."""
    contact = _koronatest(live)["health_contact"]["id"]
    body = {"health_contact_id": contact, "name": "Innstillingsprøve", "type": "lab", "resource": {"name": "Lab"}}
    auth = {"Authorization": f"Bearer {token}"}
    made = requests.post(f"{live.api}/admin/timebooks", json=body, headers=auth, timeout=WAIT_SECONDS)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_staff_turn_the_room_on_edit_waves_and_are_told_of_a_change_meanwhile(live: Live, browser: Any) -> None:
    token = _staff_token(live)
    tb = _own_timebook(live, token)
    staff = new_page(browser)
    staff.goto(f"{live.portal}/#/logg-inn?neste=staff")
    _sign_in(staff, "Sara, saksbehandler i kommunen")
    staff.get_by_role("heading", name="Ressursoversikt").wait_for()
    staff.goto(f"{live.portal}/staff.html#?vis=innstillinger&timebok={tb}")
    form = staff.locator("form.settings")
    form.get_by_role("heading", name="Venterom og bølger").wait_for(timeout=WAIT_MS)
    form.get_by_text("Ingen bølger: alle kan bestille med en gang.").wait_for()

    form.get_by_label("Venterommet er på").check()
    form.get_by_label("Slipp inn per minutt").fill("5")
    form.get_by_role("button", name="Legg til bølge").click()
    wave = form.get_by_role("group", name="Bølge 1")
    wave.get_by_label("Åpner").fill("2030-03-01T08:00")
    wave.get_by_label("Født fra og med").fill("1960-01-01")
    wave.get_by_label("Født til og med").fill("1950-12-31")  # before «from»: the server says so
    form.get_by_role("button", name="Lagre innstillingene").click()
    form.locator(".error-summary").wait_for()
    assert "born_from" in form.locator(".field-error").first.inner_text()
    check_page(staff, "staff-settings-feil")

    wave.get_by_label("Født til og med").fill("1969-12-31")
    form.get_by_role("button", name="Lagre innstillingene").click()
    staff.locator("#result").get_by_text("Innstillingene er lagret.").wait_for()
    saved = live.get(f"/timebooks/{tb}")
    assert saved["waiting_room"] == {"enabled": True, "admit_per_minute": 5} and saved["version"] == 1
    wave = {"opens_at": "2030-03-01T08:00:00+01:00", "born_from": "1960-01-01", "born_to": "1969-12-31"}
    assert [{k: v for k, v in w.items() if k != "id"} for w in saved["waves"]] == [wave]
    check_page(staff, "staff-settings")

    # A priority list for the saved wave: a bad number is named by its line, never echoed.
    lists = staff.locator("form.wave-list")
    lists.get_by_label("Fødselsnumre, ett per linje").fill(f"fodselsnummer\n{make_pid(9701)}\n12345678901\n")
    lists.get_by_role("button", name="Legg til på listen").click()
    lists.get_by_text("Linje 3: ikke et gyldig fødselsnummer eller D-nummer.").first.wait_for()
    check_page(staff, "staff-settings-liste-feil")
    lists.get_by_label("Fødselsnumre, ett per linje").fill(f"{make_pid(9701)}\n{make_pid(9702)}\n")
    lists.get_by_role("button", name="Legg til på listen").click()
    lists.get_by_text("2 lagt til på listen for bølge 1.").wait_for()

    # Another staff member changes the rate meanwhile: this form's change is refused, not written.
    other = requests.patch(
        f"{live.api}/admin/timebooks/{tb}",
        json={"version": 1, "waiting_room": {"enabled": True, "admit_per_minute": 9}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=WAIT_SECONDS,
    )
    assert other.status_code == 200, other.text
    form = staff.locator("form.settings")
    form.get_by_label("Venterommet er på").uncheck()
    form.get_by_role("button", name="Lagre innstillingene").click()
    staff.locator("#result").get_by_text("Noen andre endret innstillingene").wait_for()
    assert staff.locator("form.settings").get_by_label("Slipp inn per minutt").input_value() == "9"
    assert live.get(f"/timebooks/{tb}")["waiting_room"]["enabled"] is True

    # The wave with the list removed: staff are asked first; «no» keeps the wave and its list.
    form = staff.locator("form.settings")
    form.get_by_role("button", name="Fjern bølge 1").click()
    form.get_by_role("button", name="Lagre innstillingene").click()
    staff.get_by_role("dialog").get_by_role("button", name="Behold bølgen").click()
    staff.locator("#result").get_by_text("Ikke lagret: en bølge du fjernet, har en prioriteringsliste.").wait_for()
    assert len(live.get(f"/timebooks/{tb}")["waves"]) == 1
    form = staff.locator("form.settings")
    form.get_by_role("button", name="Fjern bølge 1").click()
    form.get_by_role("button", name="Lagre innstillingene").click()
    staff.get_by_role("dialog").get_by_role("button", name="Fjern bølgen og listen").click()
    staff.locator("#result").get_by_text("Innstillingene er lagret.").wait_for()
    assert live.get(f"/timebooks/{tb}")["waves"] == []
    assert staff.errors == []  # type: ignore[attr-defined]
