"""Every path to matches runs through one identity gate: a selfie that no
passed camera check took goes to the DPO's identity check, whatever the
route ("search again" after a failed search included), with the picture
kept for that check; an upload cannot replace a passed camera check's
picture; an API key, which sees no photo, cannot confirm a requester."""

import json

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from subjects.core import tokens
from subjects.jobs import selfie_search
from subjects.models import OutboundEmail
from subjects.person import intake, selfie
from subjects.review import actions
from tests.conftest import FACES_DIR
from tests.subjects.dpo_helpers import dpo_key, make_dpo
from tests.subjects.helpers import ingest, upload, verified_in
from tests.subjects.scenario import file_via_worker

pytestmark = pytest.mark.django_db


def mails(request, kind: str) -> int:
    return OutboundEmail.objects.filter(request=request, kind=kind).count()


def failed_upload_search(email: str, photo: str):
    """An uploaded selfie whose search failed for good (the worker's last
    retry): the request is in ``error``, its template stored."""
    request = intake.start_request(email=email, language="en")
    request = intake.verify_email(tokens.verification_token(request))
    request = selfie.submit_selfie(request, (FACES_DIR / photo).read_bytes(), live=False)
    selfie_search.fail_search(request.pk, request.selfie_pending_file,
                              ConnectionError("the index went away"))
    request.refresh_from_db()
    assert request.state == "error" and request.selfie_embedding is not None
    return request


def test_search_again_on_an_upload_leads_to_the_identity_check():
    # A stalker uploads the victim's photo; the search fails; the DPO's
    # "search again" must not e-mail them the victim's matches.
    ingest("obama_1.jpg", "obama_4.jpg")
    request = failed_upload_search("stalker.upload@example.org", "obama_2.jpg")
    assert actions.SEARCH_AGAIN in actions.available_actions(request)
    request = actions.perform(request, actions.SEARCH_AGAIN, actor="dpo:dora")
    assert request.state == "identity_review"
    assert mails(request, "matches_ready") == 0 and mails(request, "dpo_identity_check") == 1
    # The DPO has the uploaded photo to compare with.
    assert request.selfie_review_file and default_storage.exists(request.selfie_review_file)
    # The person sees the identity check's page, and no face.
    browser = Client()
    intake.send_new_link(request)
    request.refresh_from_db()
    browser.post(f"/verify/{tokens.verification_token(request)}/")
    token = tokens.access_token(request)
    page = browser.get(f"/r/{token}/matches/").content.decode()
    assert "faces/" not in page
    match = request.matches.first()
    assert match is not None
    assert browser.get(f"/r/{token}/faces/{match.pk}.jpg").status_code == 404


def test_search_again_on_a_face_others_searched_lately_leads_to_the_identity_check():
    ingest("obama_1.jpg", "obama_4.jpg")
    first = file_via_worker("obama.first@example.org", kinds=["access"], in_process=True)
    # Someone else's live selfie of the same face, since.
    other = intake.start_request(email="someone.else@example.org", language="en")
    other = intake.verify_email(tokens.verification_token(other))
    other = selfie.submit_selfie(other, (FACES_DIR / "obama_3.jpg").read_bytes(), live=True)
    selfie_search.run_selfie_search(other.pk, other.selfie_pending_file)
    first = actions.perform(first, actions.SEARCH_AGAIN, actor="dpo:dora")
    assert first.state == "identity_review"
    assert mails(first, "dpo_identity_check") == 1


def test_an_upload_after_a_passed_camera_check_is_refused():
    ingest("obama_1.jpg", "obama_4.jpg")
    browser = Client()
    request = verified_in(browser, "passes.live@example.org")
    # The camera check passed with the person's own face (its own tests
    # are in test_liveness); the search shows the matches.
    request = selfie.submit_selfie(request, (FACES_DIR / "obama_2.jpg").read_bytes(), live=True)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    request.refresh_from_db()
    assert request.state == "matches_ready"
    live_frame = request.selfie_review_file
    assert live_frame and default_storage.exists(live_frame)

    token = tokens.access_token(request)
    response = browser.post(f"/r/{token}/selfie/", {"photo": upload("biden_1.jpg")})
    assert response.status_code == 409
    assert "You have already passed the camera check" in response.content.decode()
    request.refresh_from_db()
    assert request.state == "matches_ready" and request.selfie_live
    assert request.selfie_review_file == live_frame and default_storage.exists(live_frame)
    assert request.events.filter(action="selfie_submitted").count() == 1


def test_the_api_cannot_confirm_a_requester():
    ingest("obama_1.jpg", "obama_4.jpg")
    request = intake.start_request(email="api.confirm@example.org", language="en")
    request = intake.verify_email(tokens.verification_token(request))
    request = selfie.submit_selfie(request, (FACES_DIR / "obama_2.jpg").read_bytes(), live=False)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    request.refresh_from_db()
    assert request.state == "identity_review"
    dora, _ = make_dpo()
    api = Client(HTTP_AUTHORIZATION=f"Bearer {dpo_key(dora)}")
    detail = api.get(f"/api/v1/requests/{request.reference}").json()
    assert "confirm-requester" not in detail["actions"]
    response = api.post(f"/api/v1/requests/{request.reference}/confirm-requester",
                        json.dumps({}), content_type="application/json")
    assert response.status_code == 403
    assert "Only the dashboard can confirm a requester" in response.json()["detail"]
    request.refresh_from_db()
    assert request.state == "identity_review" and mails(request, "matches_ready") == 0
