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


def _locked() -> dict[str, tuple[str, int]]:
    """requirements.lock: each package's pinned version and its hash count."""
    text = (ROOT / "requirements.lock").read_text()
    locked = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        pin = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\]+)", block)
        if pin:
            name = pin.group(1).lower().replace("_", "-")
            locked[name] = (pin.group(2), block.count("--hash=sha256:"))
    return locked


def test_the_lock_pins_every_runtime_dependency_within_its_range_with_hashes():
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = requirement.name.lower().replace("_", "-")
        assert name in locked, f"{name} is not in requirements.lock: run `make lock`"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
    assert all(hashes >= 1 for _, hashes in locked.values())
    # Nothing below the releases with known vulnerabilities (issue 32).
    floors = {"django": "5.2.8", "gunicorn": "23.0.0", "djangorestframework": "3.15.2",
              "cryptography": "42.0.4"}
    from packaging.version import Version

    for name, floor in floors.items():
        assert Version(locked[name][0]) >= Version(floor), name
        declared_floor = [r for r in project["dependencies"]
                          if r.lower().startswith(name + ">=")][0]
        assert Version(re.search(r">=([\d.]+)", declared_floor).group(1)) >= Version(floor)


def test_make_install_installs_from_the_lock_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    rule = makefile[makefile.index("$(LOCKED_STAMP):"):makefile.index("\ninstall:")]
    assert "--require-hashes -r requirements.lock" in rule
    assert "--no-deps -e ." in rule
    assert "install: $(LOCKED_STAMP)" in makefile
