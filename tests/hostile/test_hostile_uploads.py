"""The hostile upload corpus (tests/hostile/make_corpus.py) against the
selfie page, the camera check, the search worker and the crawler's ingestion.

Every refused file gets a 4xx with its own clear sentence and leaves nothing
behind; every valid photo, however awkwardly encoded, is accepted, and its
search finds the right person (an uploaded photo then waits for the DPO's
identity check); the worker survives the whole corpus, even fed the refused
files directly; ingestion skips each bad file with a reason, never an
exception.
"""

from __future__ import annotations

import html
import io
import itertools
import json
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from search.imaging import ImageError
from search.ingestion import IngestSkip, ingest_image
from search.models import Face, Photo
from subjects.core import audit, tokens
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.models import AuditEvent, Match, OutboundEmail, RightsRequest
from subjects.person import intake
from subjects.person.camera_check.messages import message_for
from tests.conftest import FACES_DIR
from tests.hostile.make_corpus import IMAGE_CODES, Case, build_corpus
from tests.subjects.helpers import burst_answer, challenge_of, confirm_in, ingest
from tests.waiting import BURST_SECONDS, let_time_pass, wait_until

#: Answers that fit a refused file (413 Payload Too Large, 415 Unsupported
#: Media Type and 422 would be fine too; 429 would mean a limit fired).
REFUSED = {400, 413, 415, 422}
#: What ingestion stores: anything with at least one face the detector finds.
INGESTIBLE = {None, "several_faces", "face_too_small"}


@cache
def corpus() -> dict[str, Case]:
    return {case.name: case for case in build_corpus()}


CASE_NAMES = sorted(corpus())
_addresses = itertools.count(1)


def fresh_ip() -> str:
    n = next(_addresses)
    return f"10.77.{n // 250}.{n % 250 + 1}"


def verified_request(label: str, client=None) -> RightsRequest:
    """A verified request; with ``client``, confirmed in that browser."""
    email = f"hostile.{label.replace('.', '-')}.{next(_addresses)}@example.org"
    request = intake.start_request(email=email, language="en")
    if client is not None:
        return confirm_in(client, request)
    return intake.verify_email(tokens.verification_token(request))


def selfie_page(request: RightsRequest) -> str:
    return f"/r/{tokens.access_token(request)}/selfie/"


def post(client, request: RightsRequest, case: Case):
    upload = SimpleUploadedFile(case.name, case.data, content_type=case.content_type)
    return client.post(selfie_page(request), {"photo": upload}, REMOTE_ADDR=fresh_ip())


def selfie_files() -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "selfies"
    return sorted(folder.iterdir()) if folder.exists() else []


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def assert_refused_and_nothing_stored(response, request: RightsRequest, case: Case, *,
                                      counts_before: dict, selfies_before: list,
                                      everywhere: bool) -> None:
    assert response.status_code in REFUSED, (case, response.status_code)
    text = page_text(response)
    assert case.message in text, f"{case.name}: expected {case.message!r} in the page"
    assert 'name="photo"' in text, "the person can try again on the same page"
    request.refresh_from_db()
    assert request.state == State.VERIFIED
    assert request.selfie_embedding is None and request.selfie_model == ""
    assert request.searches_run == 0
    assert not getattr(request, "selfie_review_file", "")
    assert not Match.objects.filter(request=request).exists()
    new_files = set(selfie_files()) - set(selfies_before)
    assert not new_files, f"{case.name}: a refused selfie was stored"
    assert counts(request, everywhere=everywhere) == counts_before, (
        f"{case.name}: a refused selfie left records behind")


def queued_frames() -> list[str]:
    from subjects.person.camera_check.frames import QUEUED_DIR

    try:
        return default_storage.listdir(QUEUED_DIR)[1]
    except FileNotFoundError:
        return []


def counts(request: RightsRequest, *, everywhere: bool) -> dict:
    """What a refused selfie must not add to: the request's own records, or
    (with no worker busy on other requests) every record."""
    scope = {} if everywhere else {"request": request}
    return {
        "audit events": AuditEvent.objects.filter(**scope).count(),
        "e-mails": OutboundEmail.objects.filter(**scope).count(),
        "photos": Photo.objects.count(),
        "faces": Face.objects.count(),
    }


def test_the_corpus_is_big_and_varied_enough():
    cases = list(corpus().values())
    assert len(cases) >= 30
    codes = {case.code for case in cases}
    assert codes >= IMAGE_CODES | {"no_face", "several_faces", "face_too_small", None}
    assert sum(case.accepted for case in cases) >= 10
    for case in cases:
        assert case.accepted or case.message, case


def test_the_script_writes_every_case(tmp_path):
    from tests.hostile.make_corpus import main

    assert main([str(tmp_path)]) == 0
    written = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert written == {name: case.data for name, case in corpus().items()}
    bomb = tmp_path / "bomb_30000x30000.png"
    assert bomb.stat().st_size < 200_000, "the bomb must be small on disk"


# --- the selfie page ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_upload_gets_its_answer_and_a_refusal_stores_nothing(client, name):
    case = corpus()[name]
    request = verified_request(name, client)
    before, selfies_before = counts(request, everywhere=True), selfie_files()
    response = post(client, request, case)
    if not case.accepted:
        assert_refused_and_nothing_stored(response, request, case, counts_before=before,
                                          selfies_before=selfies_before, everywhere=True)
        return
    try:
        assert response.status_code == 302, page_text(response)[-2000:]
        assert response["Location"].endswith("/matches/")
        request.refresh_from_db()
        assert request.state == State.SEARCHING
        # The one file kept until the worker has embedded it (this test's
        # transaction never commits, so no worker is asked here).
        assert len(selfie_files()) == 1
    finally:
        for path in selfie_files():
            path.unlink()


@pytest.mark.django_db
@pytest.mark.parametrize("name", [name for name in CASE_NAMES if not corpus()[name].accepted])
def test_the_camera_check_refuses_each_bad_frame_and_stores_nothing(client, name):
    """The camera check takes a burst of frames per pose: a hostile file in
    place of the first frame of the first burst gets the same sentence,
    about the camera's pictures."""
    case = corpus()[name]
    request = verified_request(name, client)
    step = selfie_page(request).replace("/selfie/", "/live/step/")
    challenge = challenge_of(client.get(step.replace("/step/", "/")).content.decode())
    assert client.post(step, {"challenge": challenge, "step": "begin"},
                       REMOTE_ADDR=fresh_ip()).status_code == 200
    frames = [SimpleUploadedFile(case.name, case.data, content_type=case.content_type)] + [
        SimpleUploadedFile(f"frame_{n}.jpg", (FACES_DIR / "obama_1.jpg").read_bytes(),
                           "image/jpeg") for n in range(1, 6)]
    before = counts(request, everywhere=True)
    let_time_pass(BURST_SECONDS, why="the server refuses a burst sent sooner")
    response = burst_answer(client, challenge, client.post(
        step, {"challenge": challenge, "step": "0", "frames": frames}, REMOTE_ADDR=fresh_ip()))
    assert response.status_code in REFUSED, (case, response.status_code)
    text = response.json()["error"]
    if case.code == "empty":
        assert "We did not receive the short video for this instruction." in text
    elif case.code == "too_large":
        assert case.message in text  # refused while reading, before any frame is looked at
    else:
        # Said of the camera's pictures (the page took them), from the code
        # recorded (a frame refused by its header in the web process, or by
        # the worker that reads it).
        code = response.json()["code"]
        assert code in (f"frame_{case.code}", "frame_not_jpeg", "frame_too_large"), code
        expected = str(message_for(code))
        assert text == expected, f"{case.name}: expected {expected!r}"
    request.refresh_from_db()
    assert request.state == State.VERIFIED
    assert request.selfie_embedding is None and not request.matches.exists()
    assert selfie_files() == []
    assert not any(default_storage.exists(b.frame_file)
                   for c in request.challenges.all() for b in c.bursts.all())
    assert queued_frames() == []  # the frames that waited for the check: gone
    after = counts(request, everywhere=True)
    # The failed check itself is audited (one event); nothing else is added.
    assert after["audit events"] - before["audit events"] <= 1
    assert {k: v for k, v in after.items() if k != "audit events"} == {
        k: v for k, v in before.items() if k != "audit events"}


# --- the worker, for real -----------------------------------------------------------


def queue_without_checks(case: Case) -> tuple[RightsRequest, object]:
    """Hand the file straight to the worker, as if the page's checks had
    been skipped: the worker must refuse it as well, and stay up."""
    from subjects.tasks import run_selfie_search

    request = verified_request(case.name)
    name = default_storage.save(f"selfies/hostile-{request.reference}.img",
                                ContentFile(case.data))
    request = transition(request, State.SEARCHING, actor=audit.REQUESTER,
                         action="selfie_submitted", selfie_embedding=None, selfie_model="")
    return request, run_selfie_search.delay(request.pk, name)


#: Where a search ends: the matches shown (a live selfie), or held until the
#: DPO has checked that an uploaded photo is the requester's.
SEARCHED = {"matches_ready", "identity_review"}


def searched(request: RightsRequest, timeout: float = 120) -> RightsRequest:
    def done() -> bool:
        request.refresh_from_db()
        assert request.state in (*SEARCHED, State.SEARCHING), \
            f"{request.reference} is {request.state}"
        return request.state in SEARCHED

    wait_until(done, timeout=timeout, interval=0.2, what=f"the search of {request.reference}")
    return request


@pytest.mark.worker
def test_the_worker_searches_every_valid_upload_and_survives_the_whole_corpus(
    transactional_db, celery_worker, client, settings
):
    from portal.tasks import ping

    # The abuse limits have their own tests; this one sends 100+ selfies.
    settings.RATE_LIMITS_ENABLED = False
    # Earlier tests' requests may keep a selfie for their DPO: not this test's.
    selfies_at_start = set(selfie_files())
    ingest("obama_2.jpg", "obama_3.jpg", "biden_1.jpg", "kit_harington_1.jpg")
    obama_faces = set(Face.objects.filter(photo__file_name__startswith="obama_")
                      .values_list("pk", flat=True))
    assert len(obama_faces) == 2
    cases = [corpus()[name] for name in CASE_NAMES]

    # Through the page: valid photos go to the worker, the rest stop here.
    searching = {}
    for case in cases:
        request = verified_request(case.name, client)
        # The worker is busy with earlier requests: count this one's records.
        before, selfies_before = counts(request, everywhere=False), selfie_files()
        response = post(client, request, case)
        if case.accepted:
            assert response.status_code == 302, (case, page_text(response)[-2000:])
            searching[case.name] = request
        else:
            assert_refused_and_nothing_stored(response, request, case, counts_before=before,
                                              selfies_before=selfies_before, everywhere=False)

    # Straight to the worker: every refused file, no page in front.
    direct = {case.name: queue_without_checks(case) for case in cases if not case.accepted}
    for name, (request, result) in direct.items():
        assert result.get(timeout=120) == corpus()[name].code, name
        request.refresh_from_db()
        assert request.state == State.VERIFIED, name
        assert request.selfie_embedding is None
        assert not request.matches.exists()
        assert request.events.order_by("pk").last().action == "selfie_rejected"

    # Every valid photo, whatever its encoding, was embedded well enough to
    # find the same man in other photos, and nobody else.
    kept_for_review = set()
    for name, request in searching.items():
        request = searched(request)
        assert request.selfie_embedding is not None, name
        found = set(request.matches.values_list("face_id", flat=True))
        assert found == obama_faces, f"{name}: found {found}, expected {obama_faces}"
        assert set(request.matches.values_list("tier", flat=True)) == {"match"}, name
        if request.state == "identity_review":
            # An upload (not a live capture) waits for the DPO's identity
            # check, which needs the photo; nothing else may be kept.
            assert request.selfie_review_file, name
            kept_for_review.add(Path(settings.MEDIA_ROOT) / request.selfie_review_file)

    assert set(selfie_files()) - selfies_at_start == kept_for_review, (
        "selfies must be deleted once embedded or refused, unless kept for the DPO's check")
    assert celery_worker.process.poll() is None, celery_worker.log_tail()
    assert ping.delay().get(timeout=60)["pong"] is True


# --- ingestion (the crawler's side) ------------------------------------------------


@pytest.fixture
def cleanup_photos():
    yield
    for photo in Photo.objects.filter(site="hostile.example"):
        photo.image.delete(save=False)


@pytest.mark.django_db
@pytest.mark.parametrize("name", CASE_NAMES)
def test_ingest_image_stores_or_skips_with_a_reason(name, cleanup_photos):
    case = corpus()[name]
    try:
        photo = ingest_image(case.data, file_name=case.name, site="hostile.example",
                             source_url=f"https://hostile.example/{case.name}", model="dlib")
    except IngestSkip as skip:
        assert case.code not in INGESTIBLE, f"{name} skipped: {skip.reason}"
        if case.code == "no_face":
            assert skip.reason == "no face found"
        else:
            assert case.code in IMAGE_CODES
            assert skip.reason == str(ImageError(case.code, **skip.__cause__.params))
            assert case.message in skip.reason
        assert not Photo.objects.filter(site="hostile.example").exists()
    else:
        assert case.code in INGESTIBLE, f"{name} was stored"
        assert photo is not None and photo.faces.count() == (
            2 if case.code == "several_faces" else 1)


@pytest.mark.django_db
def test_the_ingest_command_skips_each_bad_file_and_goes_on(tmp_path, cleanup_photos):
    cases = build_corpus(tmp_path / "corpus")
    out = io.StringIO()
    call_command("ingest", str(tmp_path / "corpus"), "--json", "--site", "hostile.example",
                 "-v", "0", stdout=out)
    summary = json.loads(out.getvalue())
    reasons = {item["file"]: item["reason"] for item in summary["skipped"]}
    expected_skips = {case.name: case for case in cases if case.code not in INGESTIBLE}
    assert set(reasons) == set(expected_skips)
    for name, case in expected_skips.items():
        wanted = "no face found" if case.code == "no_face" else case.message
        assert wanted in reasons[name], (name, reasons[name])
    stored = [case for case in cases if case.code in INGESTIBLE]
    assert summary["photos"] == len(stored)
    assert summary["faces"] == len(stored) + 1  # the group photo holds two
