"""The house rules that code review alone does not keep: imports flow one way (no cycle, and never from a lower layer
of docs/ARCHITECTURE.md's list to a higher one), and no module uses another's privates.

Every ``import`` in the package counts, at module level and inside functions alike (a deferred import is still a
dependency); only ``if TYPE_CHECKING:`` blocks are left out, since they never run. The implicit import of a parent
package is not an edge: ``hdtf.face.clips`` importing ``hdtf.face.detect`` is no cycle through ``hdtf.face``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
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


def redefined(tree: ast.AST) -> list[tuple[str, str, int]]:
    """(class, name, line) for every function a class body defines again under a name it already defined: the later
    one silently replaces the earlier, which is what two branches adding a same-named method leave after a merge.
    A property's setter or deleter and ``typing.overload`` stubs are meant to share a name, and are not counted."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        seen: set[str] = set()
        for item in node.body:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            marks = {ast.unparse(d) for d in item.decorator_list}
            if any(m.endswith((".setter", ".deleter")) or m in {"overload", "typing.overload"} for m in marks):
                continue
            if item.name in seen:
                found.append((node.name, item.name, item.lineno))
            seen.add(item.name)
    return found


def test_no_class_defines_a_method_twice():
    offences = [f"{module}:{line} {cls}.{name} replaces an earlier {name}"
                for module, file in package_modules().items()
                for cls, name, line in redefined(ast.parse(file.read_text(), str(file)))]
    assert not offences, "methods defined twice in one class:\n" + "\n".join(offences)


def test_the_redefinition_check_sees_a_shadowed_method():
    source = ("class A:\n    def f(self, kind): ...\n    def f(self, clip_id): ...\n"
              "    @property\n    def p(self): ...\n    @p.setter\n    def p(self, v): ...\n")
    assert redefined(ast.parse(source)) == [("A", "f", 3)]


def test_cycle_finder_reports_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ------------------------------------------------------------------------------------------------------ layers

DOCUMENT = REPO / "docs" / "ARCHITECTURE.md"
_ARROW = re.compile(r"^(\S+)\s*->\s*(\S+)")


@dataclass(frozen=True)
class Layers:
    """The ``layers`` block of docs/ARCHITECTURE.md: layer names with their module patterns, lowest first, and the
    arrows it lists as known exceptions."""

    order: list[tuple[str, list[str]]]
    exceptions: set[tuple[str, str]]

    def of(self, module: str) -> list[int]:
        """The indexes of the layers whose patterns match ``module`` (exactly one, in a sound document)."""
        return [i for i, (_, patterns) in enumerate(self.order) if any(fnmatchcase(module, p) for p in patterns)]


def read_layers(text: str) -> Layers:
    """The first ```layers block of ``text``: ``name: patterns`` lines (an indented line continues the layer above),
    then ``known exceptions:`` with one ``a -> b`` arrow a line."""
    block = re.search(r"^```layers\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block, f"{DOCUMENT.name} has no ```layers block"
    order: list[tuple[str, list[str]]] = []
    exceptions: set[tuple[str, str]] = set()
    in_exceptions = False
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        head, colon, rest = line.partition(":")
        if not line[0].isspace() and colon:
            in_exceptions = head.strip() == "known exceptions"
            if not in_exceptions:
                order.append((head.strip(), rest.split()))
            continue
        if in_exceptions:
            arrow = _ARROW.match(line.strip())
            assert arrow, f"not an arrow 'a -> b': {line!r}"
            exceptions.add((arrow[1], arrow[2]))
        else:
            order[-1][1].extend(line.split())
    return Layers(order, exceptions)


def upward_arrows(graph: dict[str, set[str]], layers: Layers) -> list[str]:
    """Every import from a module to one of a later (higher) layer than its own, as ``a (layer) -> b (layer)``."""
    found = []
    for module, targets in sorted(graph.items()):
        (own,) = layers.of(module)
        for target in sorted(targets):
            (theirs,) = layers.of(target)
            if theirs > own and (module, target) not in layers.exceptions:
                found.append(f"{module} ({layers.order[own][0]}) -> {target} ({layers.order[theirs][0]})")
    return found


def test_every_module_is_in_exactly_one_documented_layer():
    layers = read_layers(DOCUMENT.read_text(encoding="utf-8"))
    assert len(layers.order) >= 5
    wrong = {module: [layers.order[i][0] for i in layers.of(module)] for module in package_modules()
             if len(layers.of(module)) != 1}
    assert not wrong, f"modules in no layer or in several of {DOCUMENT.name}'s list: {wrong}"


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    graph, _ = import_graph()
    layers = read_layers(DOCUMENT.read_text(encoding="utf-8"))
    found = upward_arrows(graph, layers)
    assert not found, (f"imports that run back up {DOCUMENT.name}'s layer list (lowest first):\n" + "\n".join(found))
    stale = sorted(f"{a} -> {b}" for a, b in layers.exceptions if b not in graph.get(a, set()))
    assert not stale, f"known exceptions that no longer exist (remove them from {DOCUMENT.name}): {stale}"


def test_the_layer_check_sees_an_arrow_that_runs_back_up():
    layers = read_layers("```layers\nlow:  a a.*\n      b\nhigh: c\nknown exceptions:\n  b -> c   (why)\n```\n")
    assert layers.order == [("low", ["a", "a.*", "b"]), ("high", ["c"])] and layers.exceptions == {("b", "c")}
    graph = {"a": set(), "a.x": {"c"}, "b": {"c"}, "c": {"a"}}
    assert upward_arrows(graph, layers) == ["a.x (low) -> c (high)"]
