"""No import circle in chalicelib/: modules that import each other (at module level or inside a
function) cannot be read, tested or loaded one at a time, and a lazy import only hides the knot.

The graph is read from the source (ast), so it sees the function-level imports that keep cold
starts short as well; `if TYPE_CHECKING:` blocks are left out (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "chalicelib"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _runs(node: ast.AST) -> Iterator[ast.AST]:
    """Every node that runs: all of them but the bodies of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from (n for orelse in child.orelse for n in (orelse, *_runs(orelse)))
            continue
        yield child
        yield from _runs(child)


def imports_of(name: str, source: str, known: set[str], *, is_package: bool = False) -> set[str]:
    """The chalicelib modules that module `name` imports: `from a.b import c` is a.b.c where that
    is a module (a submodule imported by name), else a.b."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runs(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: imports_of(name, path.read_text(encoding="utf-8"), known, is_package=path.name == "__init__.py")
        for name, path in found.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as one closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [closed_path(graph, component) for component in components]


def closed_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """The shortest circle through the component's first module, for the message."""
    members, start = set(component), component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    return component


def test_chalicelib_imports_in_no_circle() -> None:
    """All of chalicelib/ is checked (none had a circle but messaging/ when this was written)."""
    found = cycles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
        ({"a": {"b"}, "b": set(), "c": {"a"}}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b", "a"], ["c", "d", "c"]]),
    ],
)
def test_cycles_are_found_and_printed_as_a_path(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert sorted(cycles(graph)) == expected


def test_function_level_and_relative_imports_count_and_type_checking_does_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n    from chalicelib.x import c\n"
        "def f():\n    from chalicelib.x.d import thing\n"
    )
    known = {"chalicelib.x", "chalicelib.x.a", "chalicelib.x.b", "chalicelib.x.c", "chalicelib.x.d"}
    assert imports_of("chalicelib.x.a", source, known) == {"chalicelib.x.b", "chalicelib.x.d"}
