"""The project's imports go one way: read from the source with ``ast``.

Floors, from the bottom: the foundation of ``portal`` (settings, the
embedded database, rates), the face index (``search``), the request core
(``subjects.models`` and ``subjects/core``), the person's steps and the
DPO's decisions (``subjects/person``, ``subjects/review``), the jobs
(``subjects/jobs``), and the interfaces on top (tasks, pages, API, commands,
the URL configuration). A module may import from its own floor or below;
no import may run back up, and no set of modules may import each other in
a circle. In ``subjects/`` an import inside a function needs a comment
that says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PACKAGES = ("portal", "search", "subjects")

#: Module name prefixes, lowest floor first; the longest matching prefix wins.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("portal",)),
    ("face index", ("search",)),
    ("request core", ("subjects", "subjects.models", "subjects.apps", "subjects.core")),
    ("steps and decisions", ("subjects.person", "subjects.review")),
    ("jobs", ("subjects.jobs",)),
    ("interfaces", ("subjects.tasks", "subjects.web", "subjects.dpo", "subjects.api",
                    "subjects.management", "subjects.templatetags", "portal.admin",
                    "portal.health", "portal.metrics", "portal.views", "portal.tasks",
                    "portal.urls", "portal.wsgi", "portal.asgi", "portal.management",
                    # The DPO office's doors (its logic stands on the request core).
                    "subjects.office.views", "subjects.office.urls", "subjects.office.tasks",
                    "subjects.office.templatetags", "subjects.office.management",
                    # It assembles what the pages publish (transparency figures).
                    "subjects.office.inspection")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


MODULES = project_modules()


def floor_of(module: str) -> int:
    best, best_length = None, -1
    for number, (_name, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and \
                    len(prefix) > best_length:
                best, best_length = number, len(prefix)
    assert best is not None, f"{module} stands on no floor: add it to FLOORS"
    return best


def resolve(importer: str, is_package: bool, node: ast.AST) -> list[str]:
    """The project modules an import statement names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer.split(".") if is_package else importer.split(".")[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                 for alias in node.names]
    targets = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name.split(".")[0] in PACKAGES:
            targets.append(name)
    return targets


def imports_of(module: str) -> list[tuple[str, ast.AST, bool]]:
    """(target, node, inside a function) for every project import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in resolve(module, path.name == "__init__.py", node):
                if target != module:
                    found.append((target, node, id(node) not in top_level))
    return found


def graph() -> dict[str, set[str]]:
    return {module: {target for target, _node, _inner in imports_of(module)}
            for module in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
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
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_stands_on_a_floor():
    assert {module: floor_of(module) for module in MODULES}


def test_no_import_runs_back_up_a_floor():
    upward = [
        f"{module} ({FLOORS[floor_of(module)][0]}) imports {target} "
        f"({FLOORS[floor_of(target)][0]})"
        for module, targets in graph().items() for target in sorted(targets)
        if floor_of(target) > floor_of(module)
    ]
    assert upward == []


def test_no_modules_import_each_other_in_a_circle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_circle():
    # The check above must be able to fail.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_inside_functions_in_subjects_say_why():
    unexplained = []
    for module, path in MODULES.items():
        if not module.startswith("subjects"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level:
                here, above = lines[node.lineno - 1], lines[node.lineno - 2]
                if "#" not in here and not above.strip().startswith("#"):
                    unexplained.append(f"{module}:{node.lineno}")
    assert unexplained == []
