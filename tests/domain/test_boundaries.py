"""Which way the arrows run (STYLE.md): app.py -> http/ -> booking/ -> domain/ and storage/.

The use cases (booking/) and the domain (domain/) never import the HTTP layer, and the domain
never imports storage or AWS libraries. Every import counts, also one inside a function, so the
source is parsed rather than the modules' loaded names read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from chalicelib import http` names the module in the alias, not in `module`.
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def _under(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, module in imports_of(path)
        if any(_under(module, name) for name in forbidden)
    ]


def test_use_cases_and_domain_do_not_import_the_http_layer() -> None:
    assert violations("booking", ("chalicelib.http",)) == []
    assert violations("domain", ("chalicelib.http",)) == []


def test_the_domain_imports_no_storage_and_no_aws_library() -> None:
    assert violations("domain", ("pynamodb", "boto3", "botocore", "chalicelib.storage")) == []


def test_the_use_cases_import_no_stored_item_and_no_aws_library() -> None:
    """The repository takes and returns domain objects (chalicelib/domain/): a use case never
    builds or reads a PynamoDB item, and talks to AWS only through storage/."""
    assert violations("booking", ("chalicelib.storage.models", "pynamodb", "boto3", "botocore")) == []
    assert violations("fhir", ("chalicelib.storage", "pynamodb", "boto3", "botocore")) == []


def test_the_http_layer_never_sees_a_stored_item() -> None:
    """Routes and presenters get domain objects from the use cases (storage/mapping.py makes them)."""
    assert violations("http", ("chalicelib.storage",)) == []
    assert [m for _, m in imports_of(ROOT / "app.py") if _under(m, "chalicelib.storage")] == []


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    """The finder itself: an import hidden in a function or written relatively is still seen."""
    layer = tmp_path / "chalicelib" / "domain"
    layer.mkdir(parents=True)
    sample = layer / "sample.py"
    sample.write_text(
        "def late():\n    from chalicelib.http import schemas\n    import boto3\n"
        "from ..storage import repository\nfrom chalicelib import http\n",
        encoding="utf-8",
    )
    names = {module for _, module in imports_of(sample, tmp_path)}
    assert "chalicelib.http.schemas" in names
    assert "boto3" in names
    assert "chalicelib.storage.repository" in names
    assert "chalicelib.http" in names
