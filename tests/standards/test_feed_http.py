"""The feed host as a client sees it: RFC 9110 ETag matching, Last-Modified, `%24bulk-publish`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.booking import feed
from chalicelib.local.standards import not_modified
from tests.standards.conftest import Standards, http

MODIFIED = datetime(2026, 12, 6, 6, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("if_none_match", "expected"),
    [
        ('"abc"', True),
        ('W/"abc"', True),  # weak comparison
        ('"x", "abc"', True),  # a list
        ('"x",W/"abc"', True),
        ("*", True),
        ('"x"', False),
        ('"ABC"', False),
        ("", False),
    ],
)
def test_if_none_match_follows_rfc_9110(if_none_match: str, expected: bool) -> None:
    assert not_modified('"abc"', MODIFIED, if_none_match, None) is expected
    assert not_modified('W/"abc"', MODIFIED, if_none_match, None) is expected


def test_if_modified_since_only_without_if_none_match() -> None:
    assert not_modified('"abc"', MODIFIED, None, "Sun, 06 Dec 2026 06:00:05 GMT") is True
    assert not_modified('"abc"', MODIFIED, None, "Sun, 06 Dec 2026 06:00:04 GMT") is False
    assert not_modified('"abc"', MODIFIED, None, "not a date") is False
    assert not_modified('"abc"', MODIFIED, '"x"', "Sun, 06 Dec 2026 06:00:05 GMT") is False


def test_the_host_sends_last_modified_and_answers_percent_24_bulk_publish(standards: Standards, demo: Any) -> None:
    feed.publish(feed.S3FeedStore())
    status, headers, body = http("GET", f"{standards.server.feed_url}/$bulk-publish")
    assert status == 200 and headers["Last-Modified"].endswith("GMT")
    encoded = http("GET", f"{standards.server.feed_url}/%24bulk-publish")
    assert encoded[0] == 200 and encoded[2] == body and encoded[1]["ETag"] == headers["ETag"]
    assert http("GET", f"{standards.server.feed_url}/%24bulk-publish", headers={"If-None-Match": "*"})[0] == 304
    weak = f"W/{headers['ETag']}"
    assert http("GET", f"{standards.server.feed_url}/$bulk-publish", headers={"If-None-Match": weak})[0] == 304
    since = {"If-Modified-Since": headers["Last-Modified"]}
    assert http("GET", f"{standards.server.feed_url}/$bulk-publish", headers=since)[0] == 304
