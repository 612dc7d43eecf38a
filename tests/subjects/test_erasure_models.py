"""Erasure over every face model: after ``reembed`` adds a second model (the
README's production path), erasing a person leaves no embedding of theirs in
either model, and ingestion with either model refuses their face.

The second model is the generated stand-in for insightface's buffalo_l
(tests/search/onnx_models.py). It is not a face model: its detector draws
boxes around skin-coloured blobs and its recogniser puts different faces as
close as 0.11 (cosine), so at buffalo_l's thresholds it would call strangers
the same person. Calibrated tight here, it calls two faces the same only
when they are the same crop of the same pixels, which is what this test
needs: the person's rows in it are the rows of the same faces (same photo,
a box around the face dlib found), and their copies elsewhere.
"""

import json
import shutil

import numpy as np
import pytest

from search.backends import get_backend
from search.erasure import same_faces_in_other_models
from search.imaging import load_image
from search.ingestion import IngestReport, ingest_image
from search.matching import find_all_candidates
from search.models import Face, Photo, Suppression
from search.reembedding import reembed_photos
from tests.conftest import FACES_DIR
from tests.search.onnx_models import write_insightface_models
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db

OBAMA_PHOTOS = ["obama_1.jpg", "obama_4.jpg", "group_obama_biden.jpg"]


@pytest.fixture
def two_models(settings, tmp_path):
    settings.INSIGHTFACE_MODEL_DIR = write_insightface_models(tmp_path / "buffalo_l")
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    shutil.copy(settings.FACE_CALIBRATION_DIR / "dlib.json", calibration / "dlib.json")
    (calibration / "insightface.json").write_text(json.dumps(
        {"model": "insightface", "match_threshold": 0.02, "possible_threshold": 0.04}))
    settings.FACE_CALIBRATION_DIR = calibration
    yield get_backend("dlib"), get_backend("insightface")
    for name in ("dlib", "insightface"):
        get_backend(name).reload_calibration()


def dlib_embedding(file_name: str):
    return get_backend("dlib").detect(load_image(FACES_DIR / file_name))[0].embedding


def obamas_rows_in(model_backend, file_name: str, obama_box) -> list[np.ndarray]:
    """What the model sees of Obama in the original file: each detection
    whose box holds the centre of the box dlib found for him."""
    centre = (obama_box[0] + obama_box[2] / 2, obama_box[1] + obama_box[3] / 2)
    return [f.embedding for f in model_backend.detect(load_image(FACES_DIR / file_name))
            if f.box[0] <= centre[0] < f.box[0] + f.box[2]
            and f.box[1] <= centre[1] < f.box[1] + f.box[3]]


def test_erasure_after_reembed_leaves_nothing_in_either_model_and_both_refuse_the_face(
        two_models):
    dlib, insight = two_models
    world = seed_world("-models")
    obama_boxes = {"obama_1.jpg": world["obama_solo"][0].box,
                   "obama_4.jpg": world["obama_solo"][1].box,
                   "group_obama_biden.jpg": world["obama_group"].box}
    reembed_photos(model="insightface")
    # A copy of one photo scraped after the switch: only the new model holds it.
    ingest_image((FACES_DIR / "obama_1.jpg").read_bytes(), file_name="obama_1.jpg",
                 site="mirror.example", source_url="https://mirror.example/o1.jpg",
                 model="insightface")
    before = {name: obamas_rows_in(insight, name, box) for name, box in obama_boxes.items()}
    assert all(before.values())
    biden_rows = [f.pk for f in same_faces_in_other_models([world["biden_group"].pk])[
        world["biden_group"].pk]]
    assert Face.objects.filter(model="insightface").count() > 10

    request = file_via_worker("two.models@example.org", kinds=["objection"],
                              keep_template="yes", in_process=True)
    request = carry_out_in_process(request)
    assert request.state == "completed"
    result = request.jobs.get().result
    assert result["final_check"] == "passed"
    assert result["models_checked"] == ["dlib", "insightface"]
    assert result["embeddings_erased"]["insightface"] >= 3

    # dlib: no face of Obama's left, by an exhaustive search with other photos of him.
    for name in ("obama_3.jpg", "obama_5.jpg", "obama_2.jpg"):
        assert find_all_candidates(dlib_embedding(name), model="dlib",
                                   threshold=dlib.possible_threshold) == []
    # insightface: none of the rows it held of Obama's face is left, in any
    # photo (the mirror's copy too).
    for name, rows in before.items():
        for row in rows:
            assert find_all_candidates(row, model="insightface") == [], name
    # Biden's rows of both models stay.
    assert Face.objects.filter(pk__in=[world["biden_group"].pk, *biden_rows]).count() == \
        1 + len(biden_rows)

    # One template per model, kept (with consent) only to refuse his face.
    kept = dict(Suppression.objects.filter(request_reference=request.reference)
                .values_list("model", "embedding"))
    assert set(kept) == {"dlib", "insightface"}
    # Ingest with dlib: another photo of him is refused.
    report = IngestReport()
    assert ingest_image((FACES_DIR / "obama_5.jpg").read_bytes(), file_name="obama_5.jpg",
                        site="recrawl.example", source_url="https://recrawl.example/o5.jpg",
                        model="dlib", report=report) is None
    assert report.suppressed == 1
    # Ingest with insightface: the photos he was erased from come back from
    # another site; his face as that model's template holds it is refused.
    report = IngestReport()
    for name in OBAMA_PHOTOS:
        ingest_image((FACES_DIR / name).read_bytes(), file_name=name, site="recrawl.example",
                     source_url=f"https://recrawl.example/{name}", model="insightface",
                     report=report)
    # The tests' insightface model gives each detection a template of its
    # own, so the one template kept refuses exactly one face, the row it was
    # taken from; every other face of those photos (Biden's too) is collected.
    detected = sum(len(insight.detect(load_image(FACES_DIR / name))) for name in OBAMA_PHOTOS)
    assert (report.suppressed, report.faces) == (1, detected - 1), report.as_dict()
    assert find_all_candidates(kept["insightface"], model="insightface") == []
    assert not Photo.objects.filter(site="recrawl.example", faces__model="dlib").exists()
