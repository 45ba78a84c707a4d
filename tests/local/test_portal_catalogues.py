"""make run's portal server serves the text catalogues from chalicelib/i18n/ as i18n/{lang}.json
(one file per language for the pages, the inbox and the .ics: docs/decisions.md), and nothing
else of chalicelib/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from chalicelib.i18n import LANGUAGES, path_of
from chalicelib.local.portal import PortalServer
from tests.live import WAIT_SECONDS, free_port


@pytest.fixture(scope="module")
def portal() -> Iterator[str]:
    server = PortalServer("127.0.0.1", free_port(), "http://127.0.0.1:1")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_catalogue_is_served_beside_the_pages(portal: str, lang: str) -> None:
    response = requests.get(f"{portal}/i18n/{lang}.json?v=1", timeout=WAIT_SECONDS)
    assert response.status_code == 200
    assert response.content == path_of(lang).read_bytes()
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(
    "path", ["/i18n/de.json", "/i18n/__init__.py", "/i18n/..%2F..%2Fapp.py", "/i18n/../i18n/nb.json/x", "/i18n/"]
)
def test_nothing_else_is_served_from_there(portal: str, path: str) -> None:
    response = requests.get(f"{portal}{path}", timeout=WAIT_SECONDS)
    assert response.status_code == 404, (path, response.status_code)


def test_the_pages_are_still_served(portal: str) -> None:
    assert requests.get(f"{portal}/index.html", timeout=WAIT_SECONDS).status_code == 200
    assert requests.get(f"{portal}/js/i18n.js", timeout=WAIT_SECONDS).status_code == 200
