"""The local stage's /dev/token (never routed in prod)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.http.schemas.common import In, Out


class RepresentedIn(In):
    pid: str
    name: str = ""


class DevTokenIn(In):
    sub: str
    role: Literal["citizen", "staff"]
    name: str = ""
    orgs: list[str] = Field(default_factory=list)
    represents: list[RepresentedIn] = Field(default_factory=list, max_length=10)


class TokenOut(Out):
    token: str
