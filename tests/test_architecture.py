"""The house rules that code review alone does not keep: imports flow one way, and no module uses another's privates.

Every ``import`` in the package counts, at module level and inside functions alike (a deferred import is still a
dependency); only ``if TYPE_CHECKING:`` blocks are left out, since they never run. The implicit import of a parent
package is not an edge: ``hdtf.face.clips`` importing ``hdtf.face.detect`` is no cycle through ``hdtf.face``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Package roots as installed: setup.cfg maps hdtf.modeling to modeling/.
ROOTS = {"hdtf": REPO / "hdtf", "hdtf.modeling": REPO / "modeling", "hdtf_loader": REPO / "hdtf_loader.py"}


def package_modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module the installed package holds."""
    modules: dict[str, Path] = {}
    for root, path in ROOTS.items():
        if path.is_file():
            modules[root] = path
            continue
        for file in sorted(path.rglob("*.py")):
            parts = file.relative_to(path).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((root, *parts))] = file
    return modules


@dataclass(frozen=True)
class Use:
    """One reference from a module to a name of another package module, at a line."""

    target: str  # the module imported
    name: str | None  # the attribute taken from it (``from target import name`` or ``target.name``), if any
    line: int


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those inside ``if TYPE_CHECKING:`` bodies."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def uses(module: str, file: Path, known: set[str]) -> list[Use]:
    """Package modules ``module`` imports, and the attributes it takes from them."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    is_package = file.name == "__init__.py"
    found: list[Use] = []
    aliases: dict[str, str] = {}  # local name -> package module it is bound to
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.append(Use(alias.name, None, node.lineno))
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:  # a submodule: the dependency is on it
                    found.append(Use(full, None, node.lineno))
                    aliases[alias.asname or alias.name] = full
                elif base in known:
                    found.append(Use(base, alias.name, node.lineno))
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.append(Use(aliases[node.value.id], node.attr, node.lineno))
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[str, list[Use]]]:
    modules = package_modules()
    known = set(modules)
    table = {name: uses(name, file, known) for name, file in modules.items()}
    graph = {name: {u.target for u in found if u.target != name} for name, found in table.items()}
    return graph, table


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    item = stack.pop()
                    on_stack.discard(item)
                    component.append(item)
                    if item == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_package_has_no_import_cycle():
    graph, _ = import_graph()
    assert len(graph) > 50, "the walk found too few modules: is the package layout as ROOTS says?"
    found = cycles(graph)
    assert not found, "import cycles (each line is one set of modules that import each other):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_no_module_uses_another_modules_private_names():
    _, table = import_graph()
    offences = [f"{module}:{use.line} uses {use.target}.{use.name}"
                for module, found in table.items() for use in found
                if use.target != module and _private(use.name)]
    assert not offences, "private names used across modules:\n" + "\n".join(sorted(offences))


@pytest.mark.parametrize("source, expected", [
    # The checker itself must see what it is meant to catch.
    ("import hdtf_loader\nx = hdtf_loader._VERSION\n", {("hdtf_loader", None), ("hdtf_loader", "_VERSION")}),
    ("def f():\n    from hdtf.face import models\n    return models._dlib\n", {("hdtf.face.models", None), ("hdtf.face.models", "_dlib")}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hdtf.records import _UNSAFE\n", set()),
    ("from . import atomic\n", {("hdtf.atomic", None)}),
])
def test_the_walk_sees_function_level_imports_and_attributes(tmp_path, source, expected):
    file = tmp_path / "mod.py"
    file.write_text(source)
    known = set(package_modules())
    got = {(u.target, u.name) for u in uses("hdtf.mod", file, known)}
    assert got == expected


def test_cycle_finder_reports_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
