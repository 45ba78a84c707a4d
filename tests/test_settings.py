"""chalicelib.settings: read once from the environment; one reset re-reads it and empties every cache."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chalicelib import settings


def test_read_once_until_reset() -> None:
    before = settings.get()
    monkeypatch = pytest.MonkeyPatch()  # pytest's own: the fixture (tests/conftest.py) resets by itself
    monkeypatch.setenv("TABLE_NAME", "timebok-other")
    assert settings.get() is before, "read once"
    settings.reset()
    try:
        assert settings.get().table_name == "timebok-other"
    finally:
        monkeypatch.undo()
        settings.reset()
    assert settings.get().table_name == before.table_name


def test_the_monkeypatch_fixture_re_reads_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    before = settings.get().table_name
    monkeypatch.setenv("TABLE_NAME", "timebok-other")
    assert settings.get().table_name == "timebok-other"
    monkeypatch.undo()
    assert settings.get().table_name == before


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


def test_knobs_are_kept_as_text_for_the_rule_that_parses_them() -> None:
    built = settings.Settings.from_environment({"FEED_DAYS": " ", "REQUEST_BUDGET_SECONDS": "0", "PORT": "9000"})
    assert (built.feed_days, built.request_budget_seconds, built.port) == (None, "0", "9000"), "blank is unset"
    assert (built.helsenorge_queue_name, built.helsenorge_token_provider) == ("timebok-helsenorge.fifo", "helseid")
    assert (built.allowed_origins, built.portal_origin, built.helsenorge_queue_url) == ("", "", None)


# ---- the rule: only settings.py reads the environment; only chalicelib/local/ writes it ------------

ROOT = Path(__file__).resolve().parents[1]
READER = ROOT / "chalicelib" / "settings.py"
WRITERS = ROOT / "chalicelib" / "local"
_WRITING_METHODS = frozenset({"update", "setdefault", "pop", "popitem", "clear"})
_WRITING_FUNCTIONS = frozenset({"putenv", "unsetenv"})
_READING_FUNCTIONS = frozenset({"getenv", "getenvb"})


def environment_uses(source: str) -> list[tuple[int, str]]:
    """Every use of the process environment in `source`: (line, "read" or "write")."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    os_names = {"os"} | {
        alias.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "os" and alias.asname
    }
    uses: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in {"environ", "environb"} | _READING_FUNCTIONS:
                    uses.append((node.lineno, "read"))
                elif alias.name in _WRITING_FUNCTIONS:
                    uses.append((node.lineno, "write"))
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in os_names):
            continue
        if node.attr in _READING_FUNCTIONS:
            uses.append((node.lineno, "read"))
        elif node.attr in _WRITING_FUNCTIONS:
            uses.append((node.lineno, "write"))
        elif node.attr in ("environ", "environb"):
            uses.append((node.lineno, _environ_use(node, parents)))
    return uses


def _environ_use(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    """`os.environ[...] = v`, `del os.environ[...]` and its changing methods write; all else reads."""
    parent = parents.get(node)
    if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del)):
        return "write"
    if isinstance(parent, ast.Attribute) and parent.attr in _WRITING_METHODS:
        return "write"
    return "read"


def _violations(path: Path) -> list[str]:
    where = path.relative_to(ROOT)
    found = []
    for line, use in environment_uses(path.read_text(encoding="utf-8")):
        allowed = path == READER or (use == "write" and path.is_relative_to(WRITERS))
        if not allowed:
            found.append(f"{where}:{line}: {use}s os.environ")
    return found


def test_only_settings_reads_the_environment_and_only_the_local_runner_writes_it() -> None:
    files = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    violations = [v for path in files for v in _violations(path)]
    assert violations == [], "read settings.get(); only chalicelib/local/ may set up a stage's environment"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nos.environ.get('X')", [(2, "read")]),
        ("import os\nos.environ['X']", [(2, "read")]),
        ("import os\nos.getenv('X')", [(2, "read")]),
        ("import os as system\nf(system.environ)", [(2, "read")]),
        ("from os import environ", [(1, "read")]),
        ("from os import getenv", [(1, "read")]),
        ("import os\n'X' in os.environ", [(2, "read")]),
        ("import os\nos.environ['X'] = '1'", [(2, "write")]),
        ("import os\ndel os.environ['X']", [(2, "write")]),
        ("import os\nos.environ.update(a=1)\nos.environ.setdefault('X', '1')", [(2, "write"), (3, "write")]),
        ("import os\nos.path.join('a')", []),
    ],
)
def test_the_rule_sees_every_read_and_write(source: str, expected: list[tuple[int, str]]) -> None:
    assert sorted(environment_uses(source)) == expected
