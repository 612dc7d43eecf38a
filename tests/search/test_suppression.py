"""The suppression list at ingest: a suppressed person's face is refused,
and it leaves no pixels in a photo that is stored for the other people in it."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from search.backends import get_backend
from search.imaging import load_image
from search.ingestion import IngestReport, ingest_image
from search.models import Suppression
from tests.conftest import FACES_DIR

pytestmark = pytest.mark.django_db


def embedding_of(file_name: str):
    [face] = get_backend("dlib").detect(load_image(FACES_DIR / file_name))
    return face.embedding


def test_a_suppressed_face_is_redacted_from_the_stored_group_photo_and_the_others_remain():
    dlib = get_backend("dlib")
    # Obama objected and kept a template (from another photo of him).
    Suppression.objects.create(model="dlib", embedding=embedding_of("obama_2.jpg"),
                               reason="objection", request_reference="FR-TEST-SUPP-0001")
    original = (FACES_DIR / "group_obama_biden.jpg").read_bytes()
    report = IngestReport()
    photo = ingest_image(original, file_name="group_obama_biden.jpg", site="crawl.example",
                         source_url="https://crawl.example/group.jpg", model="dlib",
                         report=report)
    assert report.suppressed == 1 and report.faces == 2
    stored = Path(photo.image.path).read_bytes()
    assert stored != original
    assert photo.sha256 == hashlib.sha256(stored).hexdigest()

    # The face model, run on the stored file: no Obama, Biden and the stranger still there.
    found = dlib.detect(load_image(stored))
    obama = embedding_of("obama_3.jpg")
    assert all(dlib.distance(f.embedding, obama) > dlib.possible_threshold for f in found)
    biden = embedding_of("biden_2.jpg")
    assert any(dlib.distance(f.embedding, biden) <= dlib.match_threshold for f in found)
    # Each stored face is found again in the stored file, in its place, as
    # the same person (re-encoding moves embeddings a little: 0.12 here).
    for kept in photo.faces.all():
        left, top, width, height = kept.box
        assert any(left <= f.box[0] + f.box[2] / 2 < left + width
                   and top <= f.box[1] + f.box[3] / 2 < top + height
                   and dlib.distance(f.embedding, np.asarray(kept.embedding))
                   <= dlib.match_threshold for f in found), f"face at {kept.box} lost"
    assert len(found) == 2

    # Crawled again: the same redacted photo, so nothing is stored twice.
    again = IngestReport()
    assert ingest_image(original, file_name="group_obama_biden.jpg", site="crawl.example",
                        source_url="https://crawl.example/group.jpg", model="dlib",
                        report=again) is None
    assert again.duplicates == 1
