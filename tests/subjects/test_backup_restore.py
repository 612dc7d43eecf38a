"""Backups that respect erasure: a backup taken before an erasure, restored
after it, brings the person's faces and files back; ``reapply_erasures``
removes them again from the erasure journal that the restore left alone."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from portal import embedded_db
from search.backends import get_backend
from search.imaging import load_image
from search.matching import find_all_candidates
from search.models import Face, Photo, Suppression
from subjects.core.audit import SYSTEM, record_event, verify_chain
from subjects.core.events import Action
from subjects.models import AuditEvent
from subjects.review import decisions
from tests.conftest import FACES_DIR
from tests.subjects.helpers import ingest, wait_for_state
from tests.subjects.scenario import file_via_worker, seed_world


def pg_tool(name: str) -> str:
    return str(embedded_db.bin_dir(settings.DATA_DIR) / name)


def database_args() -> list[str]:
    db = connection.settings_dict
    return ["--host", db["HOST"], "--username", db["USER"], "--dbname", db["NAME"]]


def embedding_of(file_name: str) -> np.ndarray:
    return get_backend("dlib").detect(load_image(FACES_DIR / file_name))[0].embedding


def obama_in(path: Path) -> bool:
    obama = embedding_of("obama_3.jpg")
    return any(np.linalg.norm(face.embedding - obama) <= 0.6
               for face in get_backend("dlib").detect(load_image(path)))


def reapply(since) -> str:
    out = io.StringIO()
    call_command("reapply_erasures", "--since", since.isoformat(), stdout=out,
                 stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.worker
def test_a_restored_backup_loses_again_the_faces_erased_after_it(transactional_db,
                                                                 celery_worker, tmp_path):
    world = seed_world("-restore")
    request = file_via_worker("restore.obama@example.org", kinds=["erasure"],
                              keep_template="yes")
    obama_faces = [face.pk for face in world["obama_solo"]] + [world["obama_group"].pk]
    solo_files = [Path(world["files"][name]) for name in ("obama_1.jpg", "obama_4.jpg")]
    group_file = Path(world["files"]["group_obama_biden.jpg"])

    # The night's backup: the database (pg_dump) and the media folder.
    connection.close()
    taken = timezone.now()
    subprocess.run([pg_tool("pg_dump"), "--format=custom", "--file",
                    str(tmp_path / "portal.dump"), *database_args()], check=True, timeout=120)
    shutil.copytree(settings.MEDIA_ROOT, tmp_path / "media")

    # The next day the person's erasure is carried out.
    decisions.approve_request(request, actor="dpo.test")
    wait_for_state(request, "completed", timeout=120)
    assert not Face.objects.filter(pk__in=obama_faces).exists()
    assert not any(path.exists() for path in solo_files)
    assert not obama_in(group_file)

    # Then the database is lost and the backup restored, media included.
    connection.close()
    subprocess.run([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
                    "--single-transaction", *database_args(), str(tmp_path / "portal.dump")],
                   check=True, timeout=300)
    shutil.rmtree(settings.MEDIA_ROOT)
    shutil.copytree(tmp_path / "media", settings.MEDIA_ROOT)
    # What a restore does: the person is back, in the rows and in the files.
    assert Face.objects.filter(pk__in=obama_faces).count() == 3
    assert all(path.exists() for path in solo_files) and obama_in(group_file)
    assert not Suppression.objects.filter(request_reference=request.reference).exists()
    assert not AuditEvent.objects.filter(reference=request.reference,
                                         action="completed").exists()

    output = reapply(taken)

    assert output.startswith(f"1 erasure(s) completed since {taken.isoformat()}: 3 face(s) "
                             "erased again, 2 photo(s) deleted and 1 redacted again, 0 restored "
                             "file(s) deleted, 1 suppression template(s) put back."), output
    assert not Face.objects.filter(pk__in=obama_faces).exists()
    assert not any(path.exists() for path in solo_files)
    group = Photo.objects.get(file_name="group_obama_biden.jpg")
    assert Path(group.image.path) == group_file and not obama_in(group_file)
    # The others in the group photo stay, and searchable.
    assert set(group.faces.values_list("pk", flat=True)) == {world["biden_group"].pk,
                                                             world["stranger_group"].pk}
    assert find_all_candidates(embedding_of("obama_2.jpg"), threshold=0.6) == []
    assert Suppression.objects.filter(request_reference=request.reference).count() == 1
    # The trail says so, and its chain holds.
    [event] = AuditEvent.objects.filter(reference=request.reference, action="erasure_reapplied")
    assert event.details["faces"] == 3 and event.details["from"] == "journal"
    assert verify_chain().intact

    # Twice is once.
    again = reapply(taken)
    assert "3 face(s)" not in again and "0 face(s) erased again" in again
    assert AuditEvent.objects.filter(action="erasure_reapplied").count() == 1

    # A journal line changed by hand is refused, not obeyed.
    journal = Path(settings.ERASURE_JOURNAL)
    lines = journal.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["event"]["details"]["erased"]["faces"]["999999"] = {"photo": 1, "box": [0, 0, 1, 1]}
    journal.write_text("\n".join([*lines[:-1], json.dumps(entry)]) + "\n")
    with pytest.raises(CommandError, match="did not match their hash"):
        reapply(taken)


@pytest.mark.django_db
def test_a_face_id_that_now_names_another_face_is_left_alone(settings, tmp_path):
    # After a restore the database hands out ids again: a recorded id may
    # name another face by now. Only the recorded photo and box decide.
    settings.ERASURE_JOURNAL = tmp_path / "journal.jsonl"
    ingest("group_obama_biden.jpg", site="reuse.example")
    obama, biden, stranger = (face_in_group(left) for left in (1133, 737, 1594))
    before = timezone.now()
    record_event(None, actor=SYSTEM, action=Action.COMPLETED, reference="FR-REUS-E000-0001",
                 details={"erased": {
                     "faces": {str(obama.pk): {"photo": obama.photo_id, "box": list(obama.box)},
                               # this id was someone's face in a photo now elsewhere
                               str(biden.pk): {"photo": biden.photo_id + 1000,
                                               "box": list(biden.box)},
                               str(stranger.pk): {"photo": stranger.photo_id,
                                                  "box": [1, 2, 3, 4]}},
                     "files": {}}})
    err = io.StringIO()
    out = io.StringIO()
    call_command("reapply_erasures", "--since", before.isoformat(), stdout=out, stderr=err)

    assert "1 face(s) erased again, 0 photo(s) deleted and 1 redacted again" in out.getvalue()
    remaining = set(Face.objects.filter(photo__site="reuse.example").values_list("pk", flat=True))
    assert remaining == {biden.pk, stranger.pk}
    for face in (biden, stranger):
        assert f"face {face.pk} is another face now" in err.getvalue()
    [event] = AuditEvent.objects.filter(action="erasure_reapplied")
    assert event.details["from"] == "audit trail" and event.details["faces"] == 1
    assert verify_chain().intact


def face_in_group(left_near: int) -> Face:
    faces = Face.objects.filter(photo__site="reuse.example")
    return min(faces, key=lambda f: abs(f.box_left - left_near))
