"""A real `make run` stack in a subprocess: HTTP, the atomic stand-in, real threads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import local_stack


@pytest.fixture(scope="session")
def live_url() -> Iterator[str]:
    with local_stack(demo=False, start_seconds=60) as url:
        yield url
