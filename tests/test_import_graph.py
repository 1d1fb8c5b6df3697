"""The layers of rnnbench/ import one another in one direction: no module is reachable from itself.

The graph has an edge for every import a module executes, at module level or
inside a function (only ``if TYPE_CHECKING:`` blocks are left out, since they
never run). ``from package import name`` is an edge to ``package.name`` when
that is a module, else to ``package``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rnnbench

ROOT = Path(rnnbench.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _executed(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those inside an ``if TYPE_CHECKING:`` body (its ``else`` runs)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and _type_checking_only(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(tree: ast.AST, here: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in _executed(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name in MODULES and name != here}


def import_graph() -> dict[str, set[str]]:
    return {name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
            for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "rnnbench.manager.runner" in graph["rnnbench.cli"]  # function-level, inside a click command
    assert "rnnbench.errors" in graph["rnnbench.spec"]  # module level


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_rnnbench_imports_itself_through_others():
    assert cycles(import_graph()) == []


def test_imports_under_type_checking_are_not_edges_and_its_else_branch_is():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rnnbench.spec import ModelSpec\n"
              "else:\n    import rnnbench.kit\ndef f():\n    from rnnbench import errors\n")
    assert _imports(ast.parse(source), "rnnbench.somewhere", False) == {"rnnbench.kit", "rnnbench.errors"}


# Layers that must never reach another, even through a third module: (importer prefix, forbidden prefix, why).
NEVER = [
    ("rnnbench.worker", "rnnbench.manager", "the worker runs what it is sent; the case message is below both"),
    ("rnnbench.report", "rnnbench.backends", "a report reads records and never imports a framework"),
    ("rnnbench.results", "rnnbench.backends", "results are records, readable without any framework"),
    ("rnnbench.case", "rnnbench.manager", "the case message is below the manager"),
    ("rnnbench.document", "rnnbench.worker", "the worker's document is below the worker"),
    ("rnnbench.host", "rnnbench.worker", "machine facts are below the worker"),
]


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(("importer", "forbidden", "why"), NEVER, ids=[f"{a} -/-> {b}" for a, b, _ in NEVER])
def test_a_layer_never_reaches_what_it_must_not(importer, forbidden, why):
    graph = import_graph()
    broken = {module: sorted(t for t in reachable(graph, module) if _within(t, forbidden))
              for module in graph if _within(module, importer)}
    assert {m: found for m, found in broken.items() if found} == {}, why


def test_the_never_rules_see_a_path_through_a_third_module():
    graph = {"rnnbench.worker.a": {"rnnbench.kit"}, "rnnbench.kit": {"rnnbench.manager.x"}, "rnnbench.manager.x": set()}
    assert "rnnbench.manager.x" in reachable(graph, "rnnbench.worker.a")
