"""The text catalogues (chalicelib/i18n/, served to the portal as i18n/{lang}.json): the same keys in
bokmål, nynorsk and English, and
every key the pages use is in them. No browser: the browser tests catch a key built at run time
(they fail on ⟦key⟧ on the page)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
CATALOGUES = Path(__file__).resolve().parents[2] / "chalicelib" / "i18n"
LANGUAGES = ("nb", "nn", "en")


def catalogue(lang: str) -> dict[str, str]:
    return dict(json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8")))


def used_keys() -> set[str]:
    pages = [WEB / "js" / "portal.js", WEB / "js" / "queue.js", WEB / "index.html"]  # queue.js: issue 20
    source = "".join(page.read_text(encoding="utf-8") for page in pages)
    keys = set(re.findall(r'\bt\("([a-z_.0-9]+)"', source))
    keys |= {f"{key}.{form}" for key in re.findall(r'\btn\("([a-z_.0-9]+)"', source) for form in ("one", "other")}
    keys |= set(re.findall(r'notice: "([a-z_.]+)"', source))
    keys |= set(re.findall(r'data-i18n(?:-label)?="([^"]+)"', source))
    return keys


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_the_same_keys_and_no_empty_text(lang: str) -> None:
    words = catalogue(lang)
    assert set(words) == set(catalogue("nb")), set(words) ^ set(catalogue("nb"))
    assert all(isinstance(text, str) and text.strip() for text in words.values())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_the_pages_use_is_in_the_catalogue(lang: str) -> None:
    assert used_keys() - set(catalogue(lang)) == set()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_agree_across_languages(lang: str) -> None:
    names = re.compile(r"\{(\w+)\}")
    nb = catalogue("nb")
    for key, text in catalogue(lang).items():
        assert set(names.findall(text)) == set(names.findall(nb[key])), key
