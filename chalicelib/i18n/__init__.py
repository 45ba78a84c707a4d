"""One text catalogue per language (nb.json, nn.json, en.json here): the portal's words and the
server's (inbox messages `message.*`, the .ics `ics.*`, dates `when.*`) in one file each.

The files live in chalicelib/ so that the Lambda zip has them (Chalice packages chalicelib/ as
it is); the portal reads the same files as `i18n/{lang}.json`, served from here by `make run`
(chalicelib/local/portal.py) and uploaded from here by scripts/publish_portal.py
(docs/decisions.md, «Languages on the back end»). A file is read once per process, on
first use: a booking's cold start never reads one.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from chalicelib.clock import OSLO

LANGUAGES: tuple[str, ...] = ("nb", "nn", "en")
DEFAULT = "nb"
HERE = Path(__file__).resolve().parent


def known(language: Any) -> str:
    """The language if it is one of ours, else bokmål (an item or message from before languages)."""
    return language if isinstance(language, str) and language in LANGUAGES else DEFAULT


def path_of(language: str) -> Path:
    return HERE / f"{known(language)}.json"


@cache
def catalogue(language: str) -> MappingProxyType[str, str]:
    """The language's texts by key (read-only: one copy per process)."""
    return MappingProxyType(json.loads(path_of(language).read_text(encoding="utf-8")))


def text(language: str, key: str, **values: Any) -> str:
    """The text of `key` with `{name}` filled in; KeyError for a key the catalogue lacks (a bug the
    tests catch: every catalogue has the same keys)."""
    template = catalogue(known(language))[key]
    return template.format_map(_Keep(values)) if values else template


class _Keep(dict[str, Any]):
    """str.format_map that leaves an unknown `{name}` as it is, as the portal's t() does."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def in_sentence(name: str) -> str:
    """A timebook's name inside a sentence: «Koronatest» reads «Time til koronatest»; acronyms
    such as «PCR-test» keep their case."""
    first_word = name.split(" ", 1)[0]
    if len(first_word) > 1 and first_word[0].isupper() and first_word[1:].islower():
        return name[0].lower() + name[1:]
    return name


def months(language: str) -> tuple[str, ...]:
    """Short month names, January first («jan.», «mars» … / «Jan», «Mar» …)."""
    return tuple(text(language, f"when.month.{number}") for number in range(1, 13))


def format_time(moment: datetime, language: str) -> str:
    """«5. okt. 2022, kl. 13:30» (nb, nn) or «5 Oct 2022, 13:30» (en), in Europe/Oslo."""
    local = moment.astimezone(OSLO)
    return text(
        language,
        "when.format",
        day=local.day,
        month=text(language, f"when.month.{local.month}"),
        year=local.year,
        time=f"{local:%H:%M}",
    )


def format_day_and_time(moment: datetime, language: str) -> str:
    """«onsdag 5. okt. 2022, kl. 13:30» / «Wednesday 5 Oct 2022, 13:30», in Europe/Oslo."""
    local = moment.astimezone(OSLO)
    weekday = text(language, f"when.weekday.{local.isoweekday()}")
    return text(language, "when.day", weekday=weekday, when=format_time(local, language))
