"""The person's language from the request: `Accept-Language`, as the portal sends it on every
call (its current language: nb, nn or en). What a request is booked or joined in decides the
language of its inbox messages, .ics and SMS later (chalicelib/i18n/).

Read leniently, never refused: a browser's own list (`nb-NO,nb;q=0.9,en;q=0.8`) gives its most
wanted language we speak; `no` (Norwegian) and `nb-*` are bokmål, `nn-*` nynorsk, `en-*` English;
anything else, or nothing, is bokmål.
"""

from __future__ import annotations

from chalice.app import Request

from chalicelib.http.parameters import ACCEPT_LANGUAGE
from chalicelib.i18n import DEFAULT

__all__ = ["ACCEPT_LANGUAGE", "language_of", "parse_accept_language"]  # app.py takes the header from here

# A primary subtag (before the first "-") and the language it means here.
_OURS = {"nb": "nb", "no": "nb", "nn": "nn", "en": "en"}
_MOST = 20  # entries looked at: a huge header costs no more than this


def parse_accept_language(value: str | None) -> str:
    """nb, nn or en: the listed language we speak with the highest q (the first among equals)."""
    if not value:
        return DEFAULT
    best, best_q = DEFAULT, 0.0
    for entry in value.split(",")[:_MOST]:
        tag, _, params = entry.strip().partition(";")
        ours = _OURS.get(tag.strip().split("-", 1)[0].lower())
        q = _quality(params)
        if ours is not None and q > best_q:
            best, best_q = ours, q
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, number = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(number.strip())
            except ValueError:
                return 0.0
            return q if 0.0 < q <= 1.0 else 0.0
    return 1.0


def language_of(request: Request) -> str:
    """The request's language (see parse_accept_language)."""
    headers = request.headers or {}
    return parse_accept_language(headers.get(ACCEPT_LANGUAGE.name))  # Chalice's headers ignore case
