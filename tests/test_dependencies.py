"""Every package the code imports is declared in pyproject.toml: the
portal's own code in the runtime dependencies, the tests and benchmarks in
their extras. Nothing arrives only as someone else's dependency."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
OWN = {"portal", "search", "subjects", "tests", "bench", "manage"}
# Modules whose wheels do not name them in their metadata (a bare extension
# module), or extras not installed here (the benchmarks').
PROVIDED_BY = {"dlib": "dlib-bin", "faiss": "faiss-cpu"}


def declared(*groups: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for group in groups:
        requirements += project["optional-dependencies"][group]
    return {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
            for requirement in requirements}


def imported(*folders: str) -> set[str]:
    names = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names - OWN - set(sys.stdlib_module_names)


def undeclared(modules: set[str], allowed: set[str]) -> dict[str, list[str]]:
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(modules):
        names = distributions.get(module) or [PROVIDED_BY.get(module, module)]
        provided_by = [name.lower().replace("_", "-") for name in names]
        if not set(provided_by) & allowed:
            missing[module] = provided_by
    return missing


def test_the_portal_imports_only_its_declared_runtime_dependencies():
    assert undeclared(imported("portal", "search", "subjects"), declared()) == {}


def test_the_tests_and_benchmarks_import_only_declared_packages():
    assert undeclared(imported("tests", "bench"), declared("test", "bench")) == {}
