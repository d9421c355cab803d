"""The app's shape: an import graph without cycles, imports at the top, one owner of
status writes, and modules small enough to read in one sitting."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "integrations"
MODULES = sorted(
    path for path in APP.rglob("*.py") if "migrations" not in path.parts and path.stat().st_size
)


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def own_imports(path: Path, node: ast.AST) -> Iterator[tuple[str, ast.stmt]]:
    """The app's own modules that ``node`` imports, resolved to dotted names."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for child in ast.walk(node):
        if isinstance(child, ast.ImportFrom):
            if child.level:
                base = package.split(".")
                base = base[: len(base) - child.level + 1]
                target = ".".join([*base, child.module] if child.module else base)
            else:
                target = child.module or ""
            if target.split(".")[0] != "integrations":
                continue
            # "from . import x" names modules; "from .m import y" names m.
            names = [f"{target}.{alias.name}" for alias in child.names]
            found = [name for name in names if name in KNOWN]
            yield from ((name, child) for name in (found or [target]))
        elif isinstance(child, ast.Import):
            for alias in child.names:
                if alias.name.split(".")[0] == "integrations":
                    yield alias.name, child


KNOWN = {module_name(path) for path in MODULES}


def top_level(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, without ``if TYPE_CHECKING:`` blocks."""
    return [
        node
        for node in tree.body
        if not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))
    ]


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        tree = ast.parse(path.read_text())
        name = module_name(path)
        edges[name] = set()
        for node in top_level(tree):
            for target, _ in own_imports(path, node):
                while target not in KNOWN and "." in target:
                    target = target.rpartition(".")[0]
                if target != name:
                    edges[name].add(target)
    return edges


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == [], " ; ".join(" -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_imports() -> None:
    edges = graph()
    assert "integrations.models" in edges["integrations.lifecycle"]
    assert "integrations.delivery" in edges["integrations.tasks"]


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_function_level_import_of_the_apps_own_modules(path: Path) -> None:
    tree = ast.parse(path.read_text())
    late = [
        f"{path.name}:{node.lineno} {target}"
        for stmt in tree.body
        for function in ast.walk(stmt)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for target, node in own_imports(path, function)
    ]
    assert late == []


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_only_the_lifecycle_writes_a_status(path: Path) -> None:
    if path.name == "lifecycle.py":
        return
    writes = [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "update"
        and any(keyword.arg == "status" for keyword in node.keywords)
    ]
    assert writes == []


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_a_module_reads_in_one_sitting(path: Path) -> None:
    if path.name == "models.py":
        return
    assert len(path.read_text().splitlines()) <= 300


def test_every_model_field_says_what_it_holds() -> None:
    from django.apps import apps

    bare = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_app_config("integrations").get_models()
        for field in model._meta.get_fields()
        if getattr(field, "concrete", False)
        and not field.auto_created
        and not getattr(field, "help_text", "")
    ]
    assert bare == []
