"""The packaged template, built once per session the way `make package` builds it (offline)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_package_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("timebok_package_script", ROOT / "scripts" / "package.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


packaging = _load_package_script()


STAGES = ("prod", "dev")


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sam.json of each deployable stage, made by `scripts/package.py --template-only`."""
    paths = {}
    for stage in STAGES:
        summary = packaging.package(stage, tmp_path_factory.mktemp(f"package-{stage}"), template_only=True)
        paths[stage] = Path(summary["template"])
    return paths


@pytest.fixture(scope="session")
def templates(packaged: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {stage: json.loads(path.read_text(encoding="utf-8")) for stage, path in packaged.items()}


@pytest.fixture(scope="session")
def template(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The prod template (what `make package` makes by default)."""
    return templates["prod"]
