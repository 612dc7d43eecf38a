"""``make lint``'s check of the tests, for two habits that let a test pass by
accident (issue 39):

- ``time.sleep`` outside ``tests/waiting.py``: a fixed sleep used as a
  clock passes or fails with the machine's load; wait on the thing itself
  (``tests.waiting.wait_until``), or say why time must pass
  (``tests.waiting.let_time_pass``);
- ``assert <status code> in (200, 302)``: a test that accepts either of
  two answers guards neither; a test expects one status.

Usage: ``python tests/lint_waiting.py [PATH ...]`` (default: ``tests``);
prints one line per finding and exits 1 if there is any."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The documented waiting helper: the only file allowed to sleep.
HELPER = ROOT / "tests" / "waiting.py"
#: Files not checked yet, each with why: remove the entry with the reason.
NOT_YET = {
}


def http_status(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and type(node.value) is int
            and 100 <= node.value <= 599)


def names_a_status(node: ast.expr) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in ("status_code", "status")
               or isinstance(n, ast.Name) and "status" in n.id.lower()
               for n in ast.walk(node))


def findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []
    sleeps = {"time.sleep"}  # how this module may spell it
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            sleeps.update(a.asname or "sleep" for a in node.names if a.name == "sleep")
        elif isinstance(node, ast.Import):
            sleeps.update(f"{a.asname}.sleep" for a in node.names if a.name == "time" and a.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and path.resolve() != HELPER:
            name = ast.unparse(node.func)
            if name in sleeps:
                found.append(f"{where}:{node.lineno}: {name}() outside tests/waiting.py: wait "
                             f"on the thing itself (tests.waiting.wait_until)")
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare):
            compare = node.test
            for op, right in zip(compare.ops, compare.comparators, strict=True):
                if (isinstance(op, ast.In) and isinstance(right, ast.Tuple | ast.List | ast.Set)
                        and len(right.elts) > 1
                        and (all(http_status(e) for e in right.elts)
                             or names_a_status(compare.left))):
                    found.append(f"{where}:{node.lineno}: `{ast.unparse(compare)}` accepts "
                                 f"several answers: assert the one status expected")
    return found


def main(paths: list[str]) -> int:
    files = []
    for given in paths or [str(ROOT / "tests")]:
        path = Path(given).resolve()
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    problems = [line for file in files
                if str(file.relative_to(ROOT) if file.is_relative_to(ROOT) else file) not in NOT_YET
                for line in sorted(findings(file), key=lambda f: int(f.split(":")[1]))]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
