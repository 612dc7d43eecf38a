"""portal.samples: the labelled photos of real people that the tests read
live outside the repository (FACE_SAMPLES_DIR); without them `make test`
stops with one sentence that names the setting and what the folder holds."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from portal import samples
from tests.conftest import FACES_DIR

WHAT = "labels.csv with the columns file, identity, left, top, width"


def run(command: list[str], samples_dir: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACE_SAMPLES_DIR": str(samples_dir)}
    return subprocess.run(command, env=env, capture_output=True, text=True,
                          cwd=settings.BASE_DIR, timeout=300, **kwargs)


def test_make_tests_check_stops_with_one_sentence_without_the_folder(tmp_path):
    missing = tmp_path / "no-faces-here"
    result = run(["make", "--no-print-directory", "-s", "check-samples",
                  f"PY={sys.executable}"], missing)
    assert result.returncode != 0
    message = result.stderr.splitlines()[0]
    assert message == samples.problem(missing)
    assert message.startswith(f"FACE_SAMPLES_DIR names {missing}, which does not exist: "
                              "the tests need a folder of labelled face photos")
    assert WHAT in message
    assert message.endswith("set FACE_SAMPLES_DIR=/path/to/that/folder.")
    assert "Traceback" not in result.stderr


def test_make_test_checks_the_folder_before_anything_else():
    result = subprocess.run(["make", "--no-print-directory", "-n", "test",
                             f"PY={sys.executable}"],
                            capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60)
    lines = result.stdout.splitlines()
    check = next(i for i, line in enumerate(lines) if "-m portal.samples" in line)
    assert check < next(i for i, line in enumerate(lines) if "ruff check" in line)
    assert check < next(i for i, line in enumerate(lines) if line.endswith("pytest"))


def test_pytest_run_directly_stops_with_the_same_sentence(tmp_path):
    missing = tmp_path / "no-faces-here"
    result = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                  "tests/portal/test_env.py"], missing)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert samples.problem(missing) in output
    assert "Traceback" not in output
    assert "passed" not in output


def test_the_check_passes_on_the_shared_sample_set():
    assert samples.problem(settings.FACE_SAMPLES_DIR) is None
    result = run([sys.executable, "-m", "portal.samples"], FACES_DIR)
    assert (result.returncode, result.stderr) == (0, "")


def test_the_default_is_the_shared_folder_beside_the_repository(monkeypatch):
    monkeypatch.delenv("FACE_SAMPLES_DIR", raising=False)
    expected = samples.DEFAULT_DIR if samples.DEFAULT_DIR.is_dir() else None
    assert samples.configured_dir() == expected
    assert Path(settings.BASE_DIR).parent / "shared" / "faces" == samples.DEFAULT_DIR
    monkeypatch.setenv("FACE_SAMPLES_DIR", "/somewhere/else")
    assert samples.configured_dir() == Path("/somewhere/else")


def test_no_setting_and_no_default_folder_is_named_as_such(monkeypatch, tmp_path):
    monkeypatch.setattr(samples, "DEFAULT_DIR", tmp_path / "shared" / "faces")
    monkeypatch.delenv("FACE_SAMPLES_DIR", raising=False)
    assert samples.configured_dir() is None
    assert samples.problem(None).startswith(
        f"FACE_SAMPLES_DIR is not set and {tmp_path / 'shared' / 'faces'} does not exist: ")


@pytest.fixture
def small_set(tmp_path) -> Path:
    folder = tmp_path / "faces"
    folder.mkdir()
    shutil.copy(FACES_DIR / "obama_5.jpg", folder)
    (folder / "labels.csv").write_text(
        "file,identity,left,top,width\nobama_5.jpg,obama,390,68,108\n", encoding="utf-8")
    return folder


def test_a_folder_holding_labels_and_its_photos_will_do(small_set):
    assert samples.problem(small_set) is None
    assert samples.labelled_files(small_set) == ["obama_5.jpg"]


def test_each_way_a_folder_falls_short_is_one_sentence(small_set, tmp_path):
    (small_set / "obama_5.jpg").unlink()
    assert "names photos that are not there (obama_5.jpg)" in samples.problem(small_set)
    (small_set / "labels.csv").write_text("file,person\nobama_5.jpg,obama\n", encoding="utf-8")
    assert "lacks the columns identity, left, top, width" in samples.problem(small_set)
    (small_set / "labels.csv").unlink()
    assert "has no labels.csv" in samples.problem(small_set)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert "which is not a folder" in samples.problem(a_file)
    for sentence in (samples.problem(small_set), samples.problem(a_file)):
        assert WHAT in sentence and sentence.count(". ") == 0
