"""The open-standards stand-ins on loopback, on moto: the feed bucket and host, Helsenorge."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from chalicelib.local.standards import (
    LOCAL_TOKEN,
    HelsenorgeReceiver,
    StandardsServer,
    create_standards_resources,
    drain,
)
from chalicelib.messaging.publisher import reset_default_publisher
from tests.conftest import REGION
from tests.live import WAIT_SECONDS


@dataclass
class Standards:
    server: StandardsServer
    receiver: HelsenorgeReceiver
    resources: dict[str, str]

    def send_to_helsenorge(self, rounds: int = 10) -> int:
        """What the stream relay puts on the Helsenorge queue, then what Lambda's event source does
        with that queue, until it is empty or fails."""
        import app
        from tests.helpers import relay_stream

        relay_stream()
        return drain(self.resources["helsenorge_queue_url"], lambda e: app.send_to_helsenorge(e, None), rounds)

    def queued(self, dead_letter: bool = False) -> int:
        key = "helsenorge_dead_letter_queue_url" if dead_letter else "helsenorge_queue_url"
        attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
            QueueUrl=self.resources[key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def standards(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Standards]:
    made = create_standards_resources(None, REGION, "timebok-test")
    receiver = HelsenorgeReceiver(token=LOCAL_TOKEN)
    server = StandardsServer(made["feed_bucket"], receiver, 0, s3=boto3.client("s3", region_name=REGION))
    server.start()
    for name, value in {
        "FEED_BUCKET": made["feed_bucket"],
        "FEED_BASE_URL": server.feed_url,
        "PORTAL_URL": "https://portal.example.no",
        "HELSENORGE_QUEUE_URL": made["helsenorge_queue_url"],
        "HELSENORGE_DEAD_LETTER_QUEUE_URL": made["helsenorge_dead_letter_queue_url"],
        "HELSENORGE_APPOINTMENT_URL": server.helsenorge_url,
        "HELSENORGE_TOKEN_PROVIDER": "static",
        "HELSENORGE_STATIC_TOKEN": LOCAL_TOKEN,
        "HELSENORGE_RETRY_BASE_SECONDS": "0",  # a failed message is visible again at once
    }.items():
        monkeypatch.setenv(name, value)
    reset_default_publisher()
    try:
        yield Standards(server, receiver, made)
    finally:
        server.stop()
        reset_default_publisher()


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """urllib, not requests: moto's mock answers for `requests`, and these are real loopback calls."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def helsenorge_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the timebok loggers say at INFO and up (app.py sets the "timebok" logger quiet)."""
    logger = logging.getLogger("timebok")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)
    logger.propagate = propagate
