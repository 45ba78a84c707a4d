"""Browser tests: the real `make run` stack (API, portal, events) and headless Debian Chromium.

The browser is Debian's chromium (scripts/install_browser.sh; `make test` runs it), driven by
Python playwright: Playwright's own browser download does not work here. Each page is checked
with axe-core (vendored in tests/browser/vendor/) and photographed at 390 px and 1280 px into
build/screenshots/ (one run's set is kept in docs/screenshots/).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.live import WAIT_SECONDS, free_port, local_stack

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# Written on every run to build/screenshots/ (not tracked: they carry the run's dates); one run's
# set is kept in docs/screenshots/ for the README. SCREENSHOT_DIR=docs/screenshots refreshes those.
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOT_DIR", "build/screenshots")
WIDTHS = {"mobil": (390, 844), "desktop": (1280, 900)}
BLOCKING = ("serious", "critical")
# How long a step may take before the test fails (tests/live.py's WAIT_SECONDS, in ms for Playwright).
WAIT_MS = int(WAIT_SECONDS * 1000)


@dataclass(frozen=True)
class Live:
    api: str
    portal: str

    def token(self, claims: dict[str, Any]) -> str:
        response = requests.post(f"{self.api}/dev/token", json=claims, timeout=WAIT_SECONDS)
        response.raise_for_status()
        return str(response.json()["token"])

    def get(self, path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.get(f"{self.api}{path}", headers=headers, timeout=WAIT_SECONDS)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    portal_port = free_port()
    with local_stack(demo=True, portal_port=portal_port) as api:
        portal = f"http://127.0.0.1:{portal_port}"
        requests.get(f"{portal}/", timeout=WAIT_SECONDS).raise_for_status()
        yield Live(api, portal)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/install_browser.sh (make test does)")
    from playwright.sync_api import expect, sync_playwright

    # expect()'s own default is 5 s, which a loaded machine passed (make test-stress): one budget.
    expect.set_options(timeout=WAIT_MS)

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--lang=nb-NO"])
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser: Any, width: str = "desktop") -> Any:
    """A fresh tab of its own (own sessionStorage: its own sign-in); axe is injected despite the
    portal's Content-Security-Policy, which allows only the portal's own scripts."""
    w, h = WIDTHS[width]
    context = browser.new_context(
        viewport={"width": w, "height": h}, bypass_csp=True, accept_downloads=True, locale="nb-NO"
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA and best-practice violations of the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    return list(result)


# The elements that stick out past the screen's right edge, innermost last (for the message).
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .slice(-6).map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + e.className : ''}`
    + ` (${Math.round(e.getBoundingClientRect().right)} px): ${(e.textContent || '').trim().slice(0, 40)}`)
  .join('; ')"""


def check_page(page: Any, name: str) -> None:
    """One step: no serious or critical axe violation, no script error, and its screenshots at
    390 px and 1280 px (the same page resized, so one flow gives both)."""
    page.wait_for_load_state("networkidle")
    violations = axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{name}: axe found\n" + json.dumps(blocking, indent=2, ensure_ascii=False)
    assert not page.errors, f"{name}: script errors {page.errors}"
    original = page.viewport_size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (w, h) in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(100)
        if label == "mobil":
            # Usable at 390 px: nothing wider than the screen.
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            wide = "" if overflow <= 0 else page.evaluate(WIDEST)
            assert overflow <= 0, f"{name}: {overflow} px wider than a 390 px screen: {wide}"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{w}.png"), full_page=True)
    page.set_viewport_size(original)
