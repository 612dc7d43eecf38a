"""A selfie costs one model run, and a match's crop decodes no more of the
photo than the crop needs (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from search.backends import get_backend
from search.imaging import load_image
from search.models import Face
from search.redaction import face_crop, match_crop, photo_image
from subjects.jobs.selfie_search import run_selfie_search
from subjects.person.selfie import submit_selfie
from tests.conftest import FACES_DIR
from tests.subjects.helpers import ingest, verified_in

pytestmark = pytest.mark.django_db


def test_an_uploaded_selfie_is_detected_and_embedded_once_upload_and_worker_together(
        client, monkeypatch):
    ingest("obama_1.jpg", "obama_3.jpg", "biden_1.jpg")
    request = verified_in(client, "once@example.org")
    backend = get_backend()
    runs = []
    detect = backend.detect
    # A spy on the real model: it still runs, and each run is counted.
    monkeypatch.setattr(backend, "detect", lambda image, *a, **k: runs.append(1)
                        or detect(image, *a, **k))
    data = (FACES_DIR / "obama_2.jpg").read_bytes()
    request = submit_selfie(request, data, live=False)
    assert request.selfie_embedding is not None  # the check's own template
    assert run_selfie_search(request.pk, request.selfie_pending_file) == "done"
    assert len(runs) == 1, f"the model ran {len(runs)} times for one selfie"
    request.refresh_from_db()
    [face] = detect(load_image(data))
    assert np.allclose(request.selfie_embedding, face.embedding, atol=1e-5)
    found = set(request.matches.values_list("face__photo__file_name", flat=True))
    assert {"obama_1.jpg", "obama_3.jpg"} <= found and "biden_1.jpg" not in found


def test_a_large_faces_crop_decodes_a_reduced_jpeg_and_looks_like_the_full_crop():
    ingest("obama_3.jpg", "group_obama_biden.jpg")
    face = max(Face.objects.select_related("photo").filter(photo__file_name="obama_3.jpg"),
               key=lambda f: f.box_width)
    assert face.box_width >= 320  # large enough for a reduced decode
    whole = photo_image(face.photo)
    reduced = photo_image(face.photo, reduce=2)
    assert reduced.shape[1] * 2 <= whole.shape[1] + 1
    full = face_crop(whole, face.box, size=160)
    cut = match_crop(face.photo, face.box, size=160)
    assert cut.shape == full.shape == (160, 160, 3)
    assert float(np.abs(cut.astype(int) - full.astype(int)).mean()) < 6
    # The others' faces in a group photo stay blurred in a reduced crop too.
    group = list(Face.objects.select_related("photo").filter(
        photo__file_name="group_obama_biden.jpg"))
    for one in group:
        others = [f.box for f in group if f.pk != one.pk]
        full = face_crop(photo_image(one.photo), one.box, others=others, size=160)
        cut = match_crop(one.photo, one.box, others=others, size=160)
        assert float(np.abs(cut.astype(int) - full.astype(int)).mean()) < 8
