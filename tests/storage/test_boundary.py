"""Only chalicelib/storage/ says anything in PynamoDB's language (issue 9): no update action,
condition or key outside it. Read from the source, so a new use case that builds one fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
OUTSIDE_STORAGE = ("booking", "domain", "http", "messaging", "fhir")
USE_CASES_AND_RULES = ("booking/", "domain/")  # http/errors.py may name PynamoDB's throttling error (429)
# PynamoDB's action and condition builders, called on a model's attribute (`AppointmentItem.status.set(...)`).
EXPRESSIONS = {"set", "remove", "add", "delete", "append", "prepend", "is_in", "exists", "does_not_exist", "between"}


def _model_attribute(node: ast.AST) -> bool:
    """`SomethingItem.attribute`, `SomethingItem.attribute["key"]` and deeper paths of it."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
        if isinstance(node, ast.Name) and node.id.endswith("Item"):
            return True
    return False


def _imports_pynamodb(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("pynamodb")
    return isinstance(node, ast.Import) and any(a.name.startswith("pynamodb") for a in node.names)


def _found(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, name)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in EXPRESSIONS and _model_attribute(node.func.value):
                found.append(f"{where}: an update action or condition ({node.func.attr})")
        elif isinstance(node, ast.Compare) and (
            _model_attribute(node.left) or any(_model_attribute(c) for c in node.comparators)
        ):
            found.append(f"{where}: a condition (comparison on a model attribute)")
        elif name.startswith(USE_CASES_AND_RULES) and _imports_pynamodb(node):
            found.append(f"{where}: imports pynamodb")
    return found


def test_no_pynamodb_expression_outside_storage() -> None:
    files = [p for part in OUTSIDE_STORAGE for p in sorted((CHALICELIB / part).rglob("*.py"))]
    assert files
    found = [line for path in files for line in _found(path.read_text(), str(path.relative_to(CHALICELIB)))]
    assert found == [], "\n".join(found)


def test_the_check_sees_an_expression() -> None:
    sample = (
        "from pynamodb.models import Model\nx = [AppointmentItem.status.set('b')]\nok = AppointmentItem.version == 1\n"
    )
    assert len(_found(sample, "booking/sample.py")) == 3
    assert _found("x = item.status == 'booked'\n", "sample.py") == [], "a value read is not an expression"
