"""The operators' commands: ingest and search_face, with good and bad files."""

import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from search.backends import get_backend
from search.imaging import load_image
from search.models import Face, Photo, Suppression
from tests.conftest import FACES_DIR

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def bad_files(tmp_path):
    """A corrupt, a truncated, an empty, a non-image and an oversized file."""
    folder = tmp_path / "bad"
    folder.mkdir()
    jpeg = (FACES_DIR / "obama_1.jpg").read_bytes()
    (folder / "corrupt.jpg").write_bytes(jpeg[:200] + b"\x00garbage" * 500)
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_bytes(b"this is a shopping list, not a photo\n" * 20)
    with open(folder / "huge.jpg", "wb") as handle:
        handle.write(jpeg)
        handle.truncate(settings.FACE_UPLOAD_MAX_BYTES + 1)
    return folder


EXPECTED_REASONS = {
    "corrupt.jpg": ("damaged", "not a photo"),
    "truncated.jpg": ("incomplete or damaged",),
    "empty.jpg": ("The file is empty",),
    "notes.jpg": ("not a photo we can read",),
    "huge.jpg": ("too large",),
}


def test_ingest_skips_each_bad_file_with_its_reason_and_stores_nothing(bad_files):
    photos_before = Photo.objects.count()
    out, _ = run("ingest", str(bad_files), "--json", "--site", "bad.example", "-v", "0")
    summary = json.loads(out)
    assert summary["photos"] == 0 and summary["faces"] == 0
    reasons = {item["file"]: item["reason"] for item in summary["skipped"]}
    assert set(reasons) == set(EXPECTED_REASONS)
    for name, expected in EXPECTED_REASONS.items():
        assert any(text in reasons[name] for text in expected), (name, reasons[name])
    assert Photo.objects.count() == photos_before


@pytest.mark.parametrize("name", sorted(EXPECTED_REASONS))
def test_search_face_gives_each_bad_file_its_reason_and_exit_code_2(bad_files, name):
    with pytest.raises(CommandError) as caught:
        run("search_face", str(bad_files / name), "--json")
    assert caught.value.returncode == 2
    assert any(text in str(caught.value) for text in EXPECTED_REASONS[name])


def test_search_face_exits_2_with_one_line_and_no_traceback(bad_files):
    result = subprocess.run(
        [sys.executable, "manage.py", "search_face", str(bad_files / "notes.jpg")],
        capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: notes.jpg: This file is not a photo we can read. "
        "Please upload a JPEG, PNG, WebP or HEIC photo."
    ]


def test_search_face_refuses_no_face_and_several_faces_without_largest(tmp_path, labelled_index):
    blank = tmp_path / "wall.png"
    from PIL import Image

    Image.new("RGB", (400, 300), (200, 190, 180)).save(blank)
    with pytest.raises(CommandError, match="no face found") as caught:
        run("search_face", str(blank))
    assert caught.value.returncode == 2
    with pytest.raises(CommandError, match="2 faces found; use --largest"):
        run("search_face", str(FACES_DIR / "group_two_people.jpg"))
    out, _ = run("search_face", str(FACES_DIR / "group_two_people.jpg"), "--largest", "--json")
    results = json.loads(out)
    assert results and set(results[0]) >= {"photo_id", "file_name", "source_url", "box",
                                           "distance", "tier"}
    # The largest face of that photo is Biden's: his other photos come back.
    assert {"biden_1.jpg", "biden_2.jpg"} <= {r["file_name"] for r in results}
    assert not any(r["file_name"].startswith("obama_") for r in results)


def test_ingesting_twice_stores_nothing_new(tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("obama_1.jpg", "biden_1.jpg"):
        shutil.copy(FACES_DIR / name, folder / name)
    first = json.loads(run("ingest", str(folder), "--json", "--site", "twice.example",
                           "-v", "0")[0])
    assert (first["photos"], first["faces"]) == (2, 2)
    second = json.loads(run("ingest", str(folder), "--json", "--site", "twice.example",
                            "-v", "0")[0])
    assert (second["photos"], second["faces"], second["duplicates"]) == (0, 0, 2)
    assert Photo.objects.filter(site="twice.example").count() == 2
    stored = Photo.objects.get(site="twice.example", file_name="obama_1.jpg")
    assert stored.image.read() == (FACES_DIR / "obama_1.jpg").read_bytes()
    assert stored.source_url.endswith("/two/obama_1.jpg")


def test_a_suppressed_persons_face_is_not_stored_and_is_counted(tmp_path):
    backend = get_backend("dlib")
    [kit] = backend.detect(load_image(FACES_DIR / "kit_harington_1.jpg"))
    Suppression.objects.create(model="dlib", embedding=kit.embedding,
                               reason=Suppression.Reason.OBJECTION, request_reference="FR-TEST")
    folder = tmp_path / "crawl"
    folder.mkdir()
    for name in ("kit_harington_2.jpg", "group_kit_rose.jpg", "rose_leslie_1.jpg"):
        shutil.copy(FACES_DIR / name, folder / name)
    summary = json.loads(run("ingest", str(folder), "--json", "--site", "crawl.example",
                             "-v", "0")[0])
    # kit_harington_2 (only Kit) is not stored at all; the group photo keeps Rose only.
    assert summary["suppressed"] == 2
    assert summary["photos"] == 2
    stored = dict(Photo.objects.filter(site="crawl.example").values_list("file_name", "pk"))
    assert set(stored) == {"group_kit_rose.jpg", "rose_leslie_1.jpg"}
    assert Face.objects.filter(photo_id=stored["group_kit_rose.jpg"]).count() == 1
