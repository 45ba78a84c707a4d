"""A finder follows the SMART feed's booking-deep-link into the portal (issue 19): that slot's day
opens in the calendar step with the time selected and focused, never «Fant ikke siden»."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from playwright.sync_api import expect

from tests.browser.conftest import Live, check_page, new_page
from tests.live import WAIT_SECONDS

DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"


def _published_free_slot(live: Live) -> dict[str, Any]:
    """The first free slot of the local feed (`GET /fhir/$bulk-publish` → the manifest → slots);
    the runner publishes at start and every 30 s: waits for the first publication (a condition)."""
    import time

    deadline = time.monotonic() + 90
    while True:
        answer = requests.get(f"{live.api}/fhir/$bulk-publish", timeout=WAIT_SECONDS)
        if answer.status_code == 200:
            break
        assert time.monotonic() < deadline, f"no feed published: {answer.status_code}"
        time.sleep(0.5)  # polling for the publication, not waiting on the clock
    slots_url = next(o["url"] for o in answer.json()["output"] if o["type"] == "Slot")
    lines = [json.loads(line) for line in requests.get(slots_url, timeout=WAIT_SECONDS).text.splitlines()]
    return next(s for s in lines if s["status"] == "free")


def test_a_deep_link_from_the_feed_opens_that_day_with_the_time_selected(live: Live, browser: Any) -> None:
    slot = _published_free_slot(live)
    link = next(e["valueUrl"] for e in slot["extension"] if e["url"] == DEEP_LINK)
    assert link.startswith(live.portal)
    route, _, query = urlsplit(link).fragment.partition("?")
    wanted = parse_qs(query)["tid"][0]
    page = new_page(browser)
    page.goto(link)
    expect(page.locator("main h1")).not_to_have_text("Fant ikke siden")
    chosen = page.locator(f'button[data-slot="{wanted}"]')
    expect(chosen).to_be_focused()
    expect(chosen).to_have_attribute("aria-current", "true")
    check_page(page, "deep-link")
    # A link published before issue 19 (/timebooks/{id}/slots?date=&location=&slot=) still opens it.
    timebook = route.split("/")[2]
    fields = parse_qs(query)
    old = (
        f"{live.portal}/#/timebooks/{timebook}/slots?date={fields['dato'][0]}"
        f"&location={fields['sted'][0]}&slot={wanted}"
    )
    page.goto(old)
    expect(page.locator(f'button[data-slot="{wanted}"]')).to_be_focused()
    assert page.errors == []
