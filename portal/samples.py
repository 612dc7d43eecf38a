"""The labelled sample photos that the tests, the benchmarks and the demo read.

They are photographs of real people from other projects' repositories,
provided as shared test data beside this repository (``../shared/faces`` on
every development machine and in CI) and never copied into it: a portal
about people's control over their photos does not ship other people's.

``FACE_SAMPLES_DIR`` names the folder; settings.py reads it through
:func:`configured_dir`. This module needs no Django settings, so
``python -m portal.samples`` (run by ``make test`` before pytest) can check
the folder without starting the embedded database.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from portal.env import env_path

VARIABLE = "FACE_SAMPLES_DIR"
DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
LABEL_COLUMNS = ("file", "identity", "left", "top", "width")
WHAT_IT_HOLDS = (
    "labelled face photos (a labels.csv with the columns "
    + ", ".join(LABEL_COLUMNS)
    + ", one row per face, and the photos it names)"
)


def configured_dir() -> Path | None:
    """``FACE_SAMPLES_DIR``, else ``../shared/faces`` where it exists, else None."""
    return env_path(VARIABLE, DEFAULT_DIR if DEFAULT_DIR.is_dir() else None)


def label_rows(folder: Path) -> list[dict]:
    """The rows of ``folder/labels.csv`` (columns as in :data:`LABEL_COLUMNS`)."""
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def labelled_files(folder: Path) -> list[str]:
    """The photos ``labels.csv`` names, each once, sorted."""
    return sorted({row["file"] for row in label_rows(folder)})


def _what_is_wrong(folder: Path | None) -> str | None:
    if folder is None:
        return f"{VARIABLE} is not set and {DEFAULT_DIR} does not exist"
    if not folder.exists():
        return f"{VARIABLE} names {folder}, which does not exist"
    if not folder.is_dir():
        return f"{VARIABLE} names {folder}, which is not a folder"
    if not (folder / "labels.csv").is_file():
        return f"{folder} ({VARIABLE}) has no labels.csv"
    try:
        with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError) as exc:
        return f"{folder / 'labels.csv'} ({VARIABLE}) cannot be read ({exc})"
    missing_columns = ", ".join(name for name in LABEL_COLUMNS if name not in header)
    if missing_columns:
        return f"{folder / 'labels.csv'} ({VARIABLE}) lacks the columns {missing_columns}"
    missing = [name for name in labelled_files(folder) if not (folder / name).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (" and more" if len(missing) > 3 else "")
        return f"{folder / 'labels.csv'} ({VARIABLE}) names photos that are not there ({shown})"
    return None


def problem(folder: Path | None, *, needed_by: str = "the tests need") -> str | None:
    """One sentence saying why ``folder`` cannot serve as the sample set, or
    None when it can."""
    wrong = _what_is_wrong(folder)
    if wrong is None:
        return None
    return (f"{wrong}: {needed_by} a folder of {WHAT_IT_HOLDS}; "
            f"set {VARIABLE}=/path/to/that/folder.")


def main() -> int:
    sentence = problem(configured_dir())
    if sentence:
        print(sentence, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
