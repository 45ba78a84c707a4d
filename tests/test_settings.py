"""chalicelib.settings: read once from the environment; one reset re-reads it and empties every cache."""

from __future__ import annotations

import pytest

from chalicelib import settings


def test_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    before = settings.get()
    monkeypatch.setenv("TABLE_NAME", "timebok-other")
    assert settings.get() is before, "read once"
    settings.reset()
    try:
        assert settings.get().table_name == "timebok-other"
    finally:
        monkeypatch.undo()
        settings.reset()
    assert settings.get().table_name == before.table_name


def test_reset_runs_every_registered_hook() -> None:
    calls: list[str] = []
    hook = settings.on_reset(lambda: calls.append("cache emptied"))
    try:
        settings.reset()
        assert calls == ["cache emptied"]
    finally:
        settings._hooks.remove(hook)


def test_the_stage_settings() -> None:
    environment = {"AWS_DEFAULT_REGION": "eu-west-1", "DEV_TOKENS": "enabled", "LOG_TRACEBACKS": "enabled"}
    built = settings.Settings.from_environment({**environment, "TABLE_NAME": " "})
    assert (built.region, built.dev_tokens, built.log_tracebacks) == ("eu-west-1", True, True)
    assert built.table_name == "timebok-local", "blank is unset"
    assert built.token_environment == {} and built.dynamodb_read_timeout == 5
    with pytest.raises(ValueError, match="SQS_READ_TIMEOUT_SECONDS"):
        settings.Settings.from_environment({"SQS_READ_TIMEOUT_SECONDS": "soon"})
