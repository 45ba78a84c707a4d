"""Every log line of a request carries its request id; each request gets one access line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from chalicelib import logs
from chalicelib.booking import discovery


def _formatted(record: logging.LogRecord) -> dict[str, Any]:
    return json.loads(logs.RedactingJsonFormatter().format(record))


def test_the_lines_of_one_request_share_its_id_and_the_access_line_ends_it(
    client: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = discovery.health_contacts
    inside = logging.getLogger("timebok.probe")

    def health_contacts(*args: Any, **kwargs: Any) -> Any:
        inside.warning("reading health contacts")
        return real(*args, **kwargs)

    monkeypatch.setattr(discovery, "health_contacts", health_contacts)
    caplog.set_level(logging.INFO)
    seen: dict[str, list[dict[str, Any]]] = {}
    for _ in range(2):
        caplog.clear()
        assert client.get("/health-contacts?search=24085038849").status == 200
        lines = [_formatted(r) for r in caplog.records if r.name in ("timebok.probe", "timebok.access")]
        assert [line["logger"] for line in lines] == ["timebok.probe", "timebok.access"], lines
        seen.setdefault("ids", []).append({line["request_id"] for line in lines})
        access = lines[-1]
        assert access["message"].startswith("GET /health-contacts 200 "), access
        assert access["message"].endswith(" ms") and "search" not in access["message"], "no query strings"
    first, second = seen["ids"]
    assert len(first) == 1 and len(second) == 1 and first != second, seen


def test_refusals_at_the_gateway_get_an_access_line_too(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert client.get("/appointments").status == 401
    assert client.get("/no-such-route").status == 404
    access = [r.getMessage() for r in caplog.records if r.name == "timebok.access"]
    assert [line.rsplit(" ", 2)[0] for line in access] == ["GET /appointments 401", "GET /no-such-route 404"]


def test_outside_a_request_there_is_no_id() -> None:
    record = logging.LogRecord("timebok.x", logging.INFO, __file__, 1, "tick", None, None)
    assert "request_id" not in _formatted(record)
    with logs.request_id("abc"):
        assert _formatted(record)["request_id"] == "abc"
