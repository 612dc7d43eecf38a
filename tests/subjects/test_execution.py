"""Carrying out approved requests on the real database with a real worker."""

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from django.conf import settings

from search.backends import get_backend
from search.imaging import load_image
from search.ingestion import IngestReport, ingest_image
from search.matching import find_all_candidates
from search.models import CustomerSearchResult, Face, FileToDelete, Photo, Suppression
from subjects.core.tokens import download_token
from subjects.models import OutboundEmail
from subjects.person import intake
from subjects.review import decisions
from tests.conftest import FACES_DIR
from tests.mail import text_part
from tests.subjects.helpers import confirm_in, path_of, wait_for_state
from tests.subjects.scenario import file_via_worker, seed_world

pytestmark = [pytest.mark.worker]


def embedding_of(file_name: str, largest_only=True):
    faces = get_backend("dlib").detect(load_image(FACES_DIR / file_name))
    return faces[0].embedding


def assert_erased_exactly_once(world, request, inbox, address):
    """The state after an erasure of Obama from the scenario, however the
    job got there."""
    request.refresh_from_db()
    assert request.state == "completed"
    assert request.selfie_embedding is None
    # Solo photos: rows and files gone.
    assert not Photo.objects.filter(file_name__in=["obama_1.jpg", "obama_4.jpg"]).exists()
    for name in ("obama_1.jpg", "obama_4.jpg"):
        assert not Path(world["files"][name]).exists(), f"{name} still on disk"
    # The group photo stays, redacted, with the others still searchable.
    group = Photo.objects.get(file_name="group_obama_biden.jpg")
    # Redacted in place: the same file now holds other bytes than the original.
    stored_group = Path(world["files"]["group_obama_biden.jpg"])
    assert Path(group.image.path) == stored_group
    assert stored_group.read_bytes() != (FACES_DIR / "group_obama_biden.jpg").read_bytes(), \
        "unredacted file kept"
    assert hashlib.sha256(stored_group.read_bytes()).hexdigest() == group.sha256
    assert set(group.faces.values_list("pk", flat=True)) == {
        world["biden_group"].pk, world["stranger_group"].pk}
    biden = {c.face_id for c in find_all_candidates(embedding_of("biden_2.jpg"))}
    assert world["biden_group"].pk in biden and world["biden_solo"].pk in biden
    # Nothing of Obama's is left, by an exhaustive search.
    assert find_all_candidates(embedding_of("obama_2.jpg"), threshold=0.6) == []
    # Redaction is in the pixels: the model finds no Obama in the stored image.
    stored = get_backend("dlib").detect(load_image(Path(group.image.path)))
    obama = embedding_of("obama_3.jpg")
    assert all(np.linalg.norm(f.embedding - obama) > 0.6 for f in stored)
    # Search records stay, without the faces.
    results = CustomerSearchResult.objects.filter(search__customer__in=world["customers"])
    assert results.count() == 3
    assert results.filter(face__isnull=True, face_erased_at__isnull=False).count() == 2
    assert FileToDelete.objects.count() == 0
    # Art. 19: both customers told once; the person told once, exactly.
    for customer in world["customers"]:
        # Art. 19 covers the restriction at filing and the erasure: one notice each.
        for subject in ("Notice of erasure", "Notice of restriction"):
            assert len(inbox.wait_for(customer.contact_email, subject_contains=subject)) == 1
    [done] = inbox.wait_for(address, subject_contains="Your data has been erased")
    body = text_part(done)
    assert "We have erased 3 faces of yours" in body
    assert "2 photos in which only you appeared were deleted" in body
    assert "In 1 photo with other people, your face was removed" in body
    assert "found no face of yours left" in body
    assert OutboundEmail.objects.filter(kind="art19_notice").count() == 2
    assert len(inbox.wait_for(address, subject_contains="We have received your request")) == 1


def test_access_and_erasure_are_carried_out_with_proof(transactional_db, celery_worker, inbox,
                                                       client):
    address = "obama.exec@example.org"
    world = seed_world()
    request = file_via_worker(address, kinds=["access", "erasure"], keep_template="yes")
    decisions.approve_request(request, actor="dpo.test")
    wait_for_state(request, "completed")

    # The access package: the e-mail carries the status link, the status
    # page (in a browser that confirmed the address) the download link.
    [ready] = inbox.wait_for(address, subject_contains="Your data is ready to download")
    assert "/package/" not in text_part(ready)
    status = [line for line in text_part(ready).split() if "/status/" in line][0]
    intake.send_new_link(request)
    request.refresh_from_db()
    confirm_in(client, request)
    page = client.get(path_of(status)).content.decode()
    link = re.search(r'href="(/package/[^"]+)"', page).group(1)
    assert download_token(request.package) in link
    response = client.get(link)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert {"report.html", "data.json"} <= names
    data = json.loads(archive.read("data.json"))
    schema = json.loads((Path(settings.BASE_DIR) / "docs/access-package.schema.json").read_text())
    jsonschema.validate(data, schema)  # the documented schema holds
    assert data["reference"] == request.reference
    assert len(data["photos"]) == 3
    assert {p["site"] for p in data["photos"]} == {"crawl.example"}
    assert {r["customer"] for r in data["recipients"]} == {"Polizei Test", "Test Bank"}
    assert {r["account"] for r in data["recipients"]} == {"trial", "paid"}
    assert data["search"]["model"] == "dlib" and data["search"]["match_threshold"] > 0
    assert data["supervisory_authority"]["name"]
    group = next(p for p in data["photos"] if p["other_faces_blurred"] == 2)
    assert group["source_url"].endswith("group_obama_biden.jpg")
    # In the group photo, Obama is untouched and Biden is blurred beyond recognition.
    image = load_image(archive.read(group["file"]))
    found = get_backend("dlib").detect(image)
    obama, biden = embedding_of("obama_3.jpg"), embedding_of("biden_2.jpg")
    assert min(np.linalg.norm(f.embedding - obama) for f in found) < 0.5
    assert all(np.linalg.norm(f.embedding - biden) > 0.62 for f in found)
    assert "report.html" in names and "Polizei Test" in archive.read("report.html").decode()
    assert request.events.filter(action="package_downloaded").count() == 1

    assert_erased_exactly_once(world, request, inbox, address)
    # The template is kept, only to block re-collection: a rescaled copy of
    # a photo is refused at ingest.
    assert Suppression.objects.filter(request_reference=request.reference).count() == 1
    report = IngestReport()
    stored = ingest_image((FACES_DIR / "obama_5.jpg").read_bytes(), file_name="obama_5.jpg",
                          site="recrawl.example", source_url="https://recrawl.example/o5.jpg",
                          model="dlib", report=report)
    assert stored is None and report.suppressed == 1
    assert not Face.objects.filter(photo__site="recrawl.example").exists()
    # Someone else's photo is still collected.
    ingest_image((FACES_DIR / "kit_harington_1.jpg").read_bytes(), file_name="kit.jpg",
                 site="recrawl.example", source_url="https://recrawl.example/kit.jpg",
                 model="dlib", report=report)
    assert report.photos == 1


def test_a_transient_failure_is_retried_then_stops_in_error_and_the_dpo_resumes_it(
    transactional_db, celery_worker, inbox
):
    import shutil

    from django.conf import settings

    address = "flaky.disk@example.org"
    world = seed_world("-flaky")
    request = file_via_worker(address, kinds=["erasure"], keep_template="no")
    group_file = Path(world["files"]["group_obama_biden.jpg"])
    hidden = group_file.with_suffix(".away")
    group_file.rename(hidden)  # the disk "loses" the group photo for a while
    decisions.approve_request(request, actor="dpo.test")
    wait_for_state(request, "error")
    job = request.jobs.get()
    assert job.status == "failed" and "FileNotFoundError" in job.last_error
    [alert] = inbox.wait_for(settings.DPO_EMAIL,
                             subject_contains=f"A job failed: request {request.reference}")
    assert "stopped with an error" in text_part(alert)
    # Some work was done before the failure and is not done twice.
    assert not Photo.objects.filter(file_name="obama_1.jpg").exists()

    shutil.move(hidden, group_file)
    decisions.resume_request(request, actor="dpo.test")
    wait_for_state(request, "completed")
    assert request.events.filter(action="job_failed").count() == 1
    assert request.events.filter(action="resumed").count() == 1
    [done] = inbox.wait_for(address, subject_contains="Your data has been erased")
    assert "We have erased 3 faces of yours" in text_part(done)
    assert "Your face template has been deleted." in text_part(done)
    assert not Suppression.objects.filter(request_reference=request.reference).exists()


def test_two_claims_on_one_job_only_one_wins(transactional_db):
    from subjects.jobs.steps import claim
    from subjects.models import RequestJob, RightsRequest

    request = RightsRequest.objects.create(email="claims@example.org", state="in_progress")
    job = RequestJob.objects.create(request=request, kind="erasure", order=0)
    assert claim(job, "worker-a") is True
    assert claim(job, "worker-b") is False
    assert claim(job, "worker-a") is True  # its own lease, renewed
