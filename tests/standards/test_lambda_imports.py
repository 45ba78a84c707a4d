"""fhir.resources is a dev dependency (tests, the local stand-in): nothing deployed may import it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ONLY = ("chalicelib/local/", "chalicelib/messaging/local_consumer.py")


def test_no_deployed_module_imports_fhir_resources() -> None:
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        if path.relative_to(ROOT).as_posix().startswith(LOCAL_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(name == "fhir" or name.startswith("fhir.") for name in names), path
    assert "fhir.resources" not in (ROOT / "requirements.txt").read_text(encoding="utf-8")
