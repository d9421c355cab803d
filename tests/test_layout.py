"""The app's shape: rooms whose imports only point down, each entered through its face;
an import graph without cycles, imports at the top, one owner of status writes, and
modules small enough to read in one sitting."""

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

# The rooms, lowest first: a room imports only from rooms before it. Rooms that share
# a tuple are siblings and import nothing from each other: ingest and delivery meet
# only at the Event row.
ORDER: list[tuple[str, ...]] = [
    ("core",),
    ("lifecycle",),
    ("ingest", "delivery"),
    ("web", "operating", "checks", "erasure"),
    ("dev",),
]
RANK = {room: rank for rank, rooms in enumerate(ORDER) for room in rooms}
# Below every room but core: modules the rooms share. Everything else outside the rooms
# (api, urls, tasks, apps, admin, management, templatetags, contrib…) is an edge, which
# may use any room and which no room uses.
GROUND = {
    "integrations",
    "integrations.exceptions",
    "integrations.conf",
    "integrations.defaults",
    "integrations.models",
    "integrations.celery_settings",
    # The counters ingest and delivery add to, and /metrics reads.
    "integrations.instruments",
}
# What pure code may not touch: the ORM, the network, Redis or Celery.
IMPURE = ("django.db", "requests", "redis", "celery")
# The one module that speaks PostgreSQL's wire protocol, and the seam that uses it.
WIRE, RECORDING = "integrations.lifecycle.pgwire", "integrations.lifecycle.finishing"
# The only modules that write ``Event.status``: every legal move, and a worker's outcome.
STATUS_WRITERS = {"integrations.lifecycle.moves", RECORDING}


def room(name: str) -> str | None:
    """The room ``name`` is in, if any."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def graph() -> dict[str, set[str]]:
    """Each module's imports of the app's own modules, type-only ones (``if
    TYPE_CHECKING:``) included."""
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        tree = ast.parse(path.read_text())
        name = module_name(path)
        edges[name] = set()
        for node in tree.body:
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
    assert "integrations.models" in edges["integrations.lifecycle.moves"]
    assert "integrations.delivery" in edges["integrations.tasks"]
    assert "integrations.lifecycle.moves" in edges["integrations.lifecycle"]
    assert {"integrations.lifecycle", "integrations.delivery.outcomes"} <= edges[
        "integrations.delivery.loop"
    ]
    outside = {"admin", "contrib", "management", "migrations", "templatetags"}
    assert set(RANK) == {path.parent.name for path in APP.glob("*/__init__.py")} - outside


def test_imports_only_point_down() -> None:
    wrong = []
    for source, targets in graph().items():
        for target in targets:
            here, there = room(source), room(target)
            if here == there:
                continue
            if here is None:
                # The ground stands on core alone; an edge may use any room.
                ok = source not in GROUND or there in (None, "core")
            elif there is None:
                ok = target in GROUND and (here != "core" or target == "integrations.exceptions")
            else:
                ok = RANK[there] < RANK[here]
            if not ok:
                wrong.append(f"{source} -> {target}")
    assert wrong == []


def test_outside_a_room_only_its_face_is_imported() -> None:
    wrong = [
        f"{source} -> {target}"
        for source, targets in graph().items()
        for target in targets
        if (there := room(target)) and room(source) != there and target != f"integrations.{there}"
    ]
    assert wrong == []


def test_only_management_commands_use_the_development_room() -> None:
    users = {
        source
        for source, targets in graph().items()
        if room(source) != "dev" and any(room(target) == "dev" for target in targets)
    }
    assert users
    assert all(user.startswith("integrations.management.commands.") for user in users), users


def test_only_the_recording_seam_speaks_postgresqls_wire_protocol() -> None:
    users = {source for source, targets in graph().items() if WIRE in targets}
    assert users == {RECORDING}


@pytest.mark.parametrize(
    "path",
    [path for path in MODULES if room(module_name(path)) == "core"],
    ids=lambda path: module_name(path),
)
def test_core_touches_no_database_network_redis_or_celery(path: Path) -> None:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    impure = [
        name
        for name in names
        if any(name == package or name.startswith(f"{package}.") for package in IMPURE)
    ]
    assert impure == []


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
    if module_name(path) in STATUS_WRITERS:
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
