"""Every model in the access copy: after ``reembed`` adds a second model
(the generated insightface stand-in, tests/search/onnx_models.py), the
person's face has a row in each; the package shows it as theirs (never
blurred as "another person") and lists the customers that received it
through either model, as the erasure notifies them. The package also holds
what its report says is held of the requests: the e-mail address first."""

import datetime as dt
import io
import json
import shutil
import zipfile

import numpy as np
import pytest
from django.utils import timezone

from search.backends import get_backend
from search.erasure import same_faces_in_other_models
from search.imaging import load_image
from search.models import Customer, CustomerSearch, CustomerSearchResult
from search.redaction import photo_image
from search.reembedding import reembed_photos
from subjects.models import AccessPackage
from tests.search.onnx_models import write_insightface_models
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_models(settings, tmp_path):
    """dlib and the insightface stand-in, calibrated as test_erasure_models
    calibrates it (the same crop of the same pixels only)."""
    settings.INSIGHTFACE_MODEL_DIR = write_insightface_models(tmp_path / "buffalo_l")
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    shutil.copy(settings.FACE_CALIBRATION_DIR / "dlib.json", calibration / "dlib.json")
    (calibration / "insightface.json").write_text(json.dumps(
        {"model": "insightface", "match_threshold": 0.02, "possible_threshold": 0.04}))
    settings.FACE_CALIBRATION_DIR = calibration
    yield
    for name in ("dlib", "insightface"):
        get_backend(name).reload_calibration()


def package_of(request) -> tuple[dict, zipfile.ZipFile]:
    package = AccessPackage.objects.get(request=request)
    with package.file.open("rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    return json.loads(archive.read("data.json")), archive


def test_the_package_shows_the_face_unblurred_and_the_recipients_of_both_models(two_models):
    world = seed_world("-pkg-models")
    reembed_photos(model="insightface")
    solo = world["obama_solo"][1]  # obama_4.jpg: no customer searched it with dlib
    twins = same_faces_in_other_models([solo.pk])[solo.pk]
    assert twins and {t.model for t in twins} == {"insightface"}
    twin = twins[0]
    # A shop searched with the new model only, and got his face's insightface row.
    shop = Customer.objects.create(name="Shop Insight", kind="retail", country="FR",
                                   account="paid", contact_email="dpo@shop-insight.example")
    search = CustomerSearch.objects.create(customer=shop,
                                           searched_at=timezone.now() - dt.timedelta(days=1))
    CustomerSearchResult.objects.create(search=search, face=twin, distance=0.01, rank=1)

    request = carry_out_in_process(
        file_via_worker("two.models@example.org", kinds=["access"], in_process=True))
    assert request.state == "completed"
    data, archive = package_of(request)

    police, bank = world["customers"]
    assert {r["customer"] for r in data["recipients"]} == {police.name, bank.name, shop.name}
    report = archive.read("report.html").decode()
    assert shop.name in report

    # His solo photo: nobody else in it, in either model; his face as it is.
    [entry] = [p for p in data["photos"] if p["source_url"].endswith("/obama_4.jpg")]
    assert entry["other_faces_blurred"] == 0
    given = load_image(archive.read(entry["file"]))
    original = photo_image(solo.photo)
    x, y, w, h = solo.box
    inner = (slice(y + 6, y + h - 6), slice(x + 6, x + w - 6))  # inside the outline
    difference = np.abs(given[inner].astype(int) - original[inner].astype(int)).mean()
    assert difference < 6, difference  # JPEG's own error; a blur is far above
    # In the group photo, Biden and the stranger stay blurred (in both models).
    [group] = [p for p in data["photos"] if p["source_url"].endswith("/group_obama_biden.jpg")]
    assert group["other_faces_blurred"] >= 2


def test_the_package_holds_the_email_address_and_the_answers():
    seed_world("-pkg-email")
    request = carry_out_in_process(
        file_via_worker("held.address@example.org", kinds=["access"], in_process=True))
    data, archive = package_of(request)
    [mine] = [r for r in data["your_requests"] if r["reference"] == request.reference]
    assert mine["email_address"] == "held.address@example.org"
    assert mine["language"] == "en"
    assert {a["answer"] for a in mine["answers"]} == {"mine"}
    assert len(mine["answers"]) == request.matches.filter(decision="mine").count()
    assert mine["decisions"] == [{"right": "access", "outcome": "approved", "reason": ""}]
    assert "held.address@example.org" in archive.read("report.html").decode()
