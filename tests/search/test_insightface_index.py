"""The insightface backend through the whole index: ingest, search,
its own HNSW index, and re-embedding photos stored by another model. On
generated stand-in models (buffalo_l's weights cannot be downloaded here)."""

import io
import json
import shutil

import pytest
from django.core.management import call_command

from search.matching import explain_candidates
from search.models import Face, Photo
from tests.conftest import FACES_DIR
from tests.search.onnx_models import write_insightface_models

pytestmark = pytest.mark.django_db

PHOTOS = ["obama_2.jpg", "lin_manuel_miranda_1.png", "biden_1.jpg"]


@pytest.fixture
def insightface_models(settings, tmp_path):
    settings.INSIGHTFACE_MODEL_DIR = write_insightface_models(tmp_path / "buffalo_l")
    return settings.INSIGHTFACE_MODEL_DIR


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "crawl"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(FACES_DIR / name, folder / name)
    return folder


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_ingest_and_search_run_on_the_insightface_backend(insightface_models, photos):
    summary = json.loads(run("ingest", str(photos), "--model", "insightface", "--json",
                             "--site", "insight.example", "-v", "0"))
    assert summary["photos"] >= 2 and summary["faces"] >= 2, summary
    faces = Face.objects.filter(photo__site="insight.example")
    assert set(faces.values_list("model", flat=True)) == {"insightface"}
    assert all(len(face.embedding) == 512 for face in faces)

    # Searching a stored photo finds its own face first, at distance ~0.
    stored = Photo.objects.filter(site="insight.example").first()
    results = json.loads(run("search_face", str(photos / stored.file_name), "--model",
                             "insightface", "--largest", "--json"))
    assert results[0]["photo_id"] == stored.pk
    assert results[0]["distance"] < 1e-3 and results[0]["tier"] == "match"

    # The search compares insightface embeddings only, through their own index.
    plan = explain_candidates(faces.first().embedding, model="insightface")
    assert "search_face_insightface_512_hnsw" in plan
    # Running the ingest again stores nothing new.
    again = json.loads(run("ingest", str(photos), "--model", "insightface", "--json",
                           "--site", "insight.example", "-v", "0"))
    assert again["photos"] == 0 and again["duplicates"] == summary["photos"]


def test_reembed_builds_the_other_models_faces_for_stored_photos(insightface_models, photos):
    run("ingest", str(photos), "--model", "dlib", "--site", "switch.example", "-v", "0")
    dlib_photos = set(Photo.objects.filter(site="switch.example").values_list("pk", flat=True))
    assert len(dlib_photos) == 3
    out = run("reembed", "--model", "insightface", "-v", "0")
    assert "embedded with insightface" in out
    insight = Face.objects.filter(photo_id__in=dlib_photos, model="insightface")
    assert insight.exists()
    assert set(insight.values_list("photo_id", flat=True)) <= dlib_photos
    # The dlib faces are still there; a second run has nothing left to do.
    assert Face.objects.filter(photo_id__in=dlib_photos, model="dlib").count() == 3
    before = insight.count()
    run("reembed", "--model", "insightface", "-v", "0")
    assert Face.objects.filter(photo_id__in=dlib_photos, model="insightface").count() == before


def test_a_missing_model_folder_is_one_clear_sentence(settings, tmp_path, photos):
    from django.core.management import CommandError

    settings.INSIGHTFACE_MODEL_DIR = tmp_path / "nowhere"
    with pytest.raises(CommandError) as caught:
        run("ingest", str(photos), "--model", "insightface")
    assert caught.value.returncode == 2
    assert "nowhere" in str(caught.value) and "buffalo_l" in str(caught.value)
