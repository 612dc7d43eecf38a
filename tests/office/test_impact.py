"""The impact assessment (Art. 35): generated with the running system's
measured figures, kept as dated versions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from search.models import Face, Photo
from subjects.models import AuditEvent, LivenessChallenge
from subjects.office import impact
from subjects.office.models import ImpactAssessment
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request, make_staff

CALIBRATION = json.loads((settings.FACE_CALIBRATION_DIR / "dlib.json").read_text())


@pytest.fixture
def dora(db):
    user, _enrolment = make_dpo()
    return log_in_verified(Client(), user)


def add_faces(count: int) -> None:
    photo = Photo.objects.create(source_url="https://example.org/p.jpg", site="example.org",
                                 scraped_at=timezone.now(), image="photos/p.jpg",
                                 file_name="p.jpg", width=100, height=100, sha256="0" * 64)
    rng = np.random.default_rng(7)
    Face.objects.bulk_create([
        Face(photo=photo, box_left=0, box_top=0, box_width=10, box_height=10, landmarks=[],
             detector_score=1.0, model="dlib", embedding=rng.normal(size=128).tolist())
        for _ in range(count)])


def test_the_assessment_carries_the_measured_figures_of_the_running_system(dora):
    add_faces(40)
    make_request("completed", received_days_ago=20, closed_at=timezone.now())
    make_request("awaiting_review", received_days_ago=40)  # overdue: one month has passed
    request = make_request("awaiting_review", received_days_ago=2, kinds=("erasure",))
    LivenessChallenge.objects.create(request=request, poses=["left"], passed=True)
    LivenessChallenge.objects.create(request=request, poses=["left"], passed=False,
                                     failure="no_turn")
    response = dora.post("/dpo/office/impact/")
    assert response.status_code == 302 and response["Location"] == "/dpo/office/impact/1/"
    document = dora.get("/dpo/office/impact/1.json").json()

    [search] = document["measured"]["face_search"]
    far = CALIBRATION["match"]["false_accept_rate"]["upper_95"]
    assert search["source"] == "search/calibration/dlib.json"
    assert search["index_faces"] == 40
    assert search["false_matches_per_search_upper_95"] == pytest.approx(40 * far)
    assert search["match_threshold"] == CALIBRATION["match_threshold"]
    assert search["impostor_pairs"] == CALIBRATION["impostor_pairs"]
    camera = document["measured"]["camera_check"]
    assert (camera["issued"], camera["passed"], camera["failed"]) == (2, 1, 1)
    assert camera["failed_by_rule"] == {"no_turn": 1}
    requests = document["measured"]["requests"]
    assert (requests["received"], requests["completed"], requests["open"]) == (3, 1, 2)
    assert requests["open_overdue"] == 1 and requests["erasure"] == 1
    assert requests["median_days_to_answer"] == 20
    assert document["retention"]["settings"]["PERSONAL_DATA_RETENTION_DAYS"] == \
        settings.PERSONAL_DATA_RETENTION_DAYS
    assert {m["code"] for m in document["safeguards"]} >= {"second_factor",
                                                           "append_only_audit"}
    assert document["signature"] == {"name": None, "role": None, "signed_on": None}

    page = " ".join(dora.get("/dpo/office/impact/1/").content.decode().split())
    assert f"Model dlib: at 40 faces in the index, a search returns at most " \
           f"{40 * far:.2f} faces of other people on average (95% bound)" in page
    assert "2 challenges issued, 1 passed, 1 failed." in page
    assert "3 requests received: 1 completed, 0 rejected, 2 open of which 1 overdue" in page
    assert "attach one before signing" in page


def test_versions_are_kept_as_generated_and_dated(dora, settings):
    first = impact.generate_assessment(actor="dpo:dora")
    add_faces(5)
    settings.PERSONAL_DATA_RETENTION_DAYS = 30
    second = impact.generate_assessment(actor="dpo:dora")
    assert (first.version, second.version) == (1, 2)
    kept = ImpactAssessment.objects.get(version=1).document
    assert kept["measured"]["index"]["faces"] == 0
    assert second.document["measured"]["index"]["faces"] == 5
    assert second.document["retention"]["settings"]["PERSONAL_DATA_RETENTION_DAYS"] == 30
    assert kept["generated_at"] <= second.document["generated_at"]
    listing = dora.get("/dpo/office/impact/").content.decode()
    assert "/dpo/office/impact/1/" in listing and "/dpo/office/impact/2/" in listing
    events = AuditEvent.objects.filter(action=impact.ACTION).order_by("pk")
    assert [e.reference for e in events] == ["DPIA-v1", "DPIA-v2"]
    assert events[0].details["document_sha256"] == impact.document_digest(kept)


def test_the_assessment_is_the_dpos_only(db):
    assert Client().post("/dpo/office/impact/").status_code == 302
    staff = log_in_verified(Client(), make_staff())
    assert staff.post("/dpo/office/impact/").status_code == 403
    assert not ImpactAssessment.objects.exists()
    user, _ = make_dpo()
    assert log_in_verified(Client(), user).get("/dpo/office/impact/9/").status_code == 404
