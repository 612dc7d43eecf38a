"""Disclosure follows confirmation: an access package holds exactly the
faces the person confirmed (and, of the ``possible`` tier, those the DPO
confirmed); a claim restricts nothing until the DPO confirms it. The DPO
compares the matches with the camera picture, kept until they decide. And
faces that other people's selfies matched lately go to the DPO's identity
check instead of the instant preview."""

import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from search.models import Face
from subjects.core import tokens
from subjects.models import Match, RightsRequest
from subjects.person import filing, intake, selfie
from subjects.review import actions
from subjects.review.decisions import DecisionRefused
from tests.conftest import FACES_DIR
from tests.subjects.dpo_helpers import log_in_verified, make_dpo
from tests.subjects.helpers import confirm_in, wait_for_state
from tests.subjects.scenario import seed_world

pytestmark = [pytest.mark.worker]


def searched(email: str, selfie_file: str = "obama_2.jpg", state: str = "matches_ready"
             ) -> RightsRequest:
    """A person who passed the camera check (its own tests are in
    test_liveness) and whose selfie the worker searched."""
    request = intake.start_request(email=email, language="en")
    request = intake.verify_email(tokens.verification_token(request))
    selfie.submit_selfie(request, (FACES_DIR / selfie_file).read_bytes(), live=True)
    return wait_for_state(request, state)


def match_of(request: RightsRequest, face: Face) -> Match:
    return request.matches.get(face=face)


def package_of(request: RightsRequest) -> dict:
    with request.package.file.open("rb") as handle:
        return json.loads(zipfile.ZipFile(io.BytesIO(handle.read())).read("data.json"))


def test_the_access_package_holds_exactly_the_confirmed_faces(transactional_db, celery_worker,
                                                              client):
    world = seed_world("-disclosure")
    request = searched("confirms.one@example.org")
    [solo_1, solo_4], group = world["obama_solo"], world["obama_group"]
    assert {m.face_id for m in request.matches.filter(tier="match")} >= {
        solo_1.pk, solo_4.pk, group.pk}
    # The camera picture is kept for the DPO, privately.
    assert request.selfie_review_file and default_storage.exists(request.selfie_review_file)
    # The search put the group face in the ``possible`` tier (no pair of
    # the test photos falls between the thresholds, so the row says so).
    Match.objects.filter(request=request, face=group).update(tier="possible")
    request = filing.file_request(request, kinds=["access"], keep_template="auto", decisions={
        match_of(request, solo_1).pk: "mine", match_of(request, group).pk: "mine"})
    assert request.state == "awaiting_review"

    dora, _ = make_dpo()
    desk = log_in_verified(client, dora)
    page = desk.get(f"/dpo/requests/{request.reference}/").content.decode()
    assert "The requester's camera picture" in page
    assert desk.get(f"/dpo/requests/{request.reference}/selfie.jpg")["Content-Type"] == \
        "image/jpeg"
    # The claim is decided before approval; the DPO declines it.
    with pytest.raises(DecisionRefused):
        actions.perform(request, actions.APPROVE, actor="dora")
    actions.perform(request, actions.DECIDE_CLAIMS, actor="dora", data={"faces": []})
    kept = request.selfie_review_file
    actions.perform(request, actions.APPROVE, actor="dora")
    request = wait_for_state(request, "completed")

    data = package_of(request)
    # Exactly the one face the person confirmed: not the match they left
    # unanswered, not the claim the DPO declined; and only its recipients.
    assert [p["source_url"] for p in data["photos"]] == ["https://crawl.example/obama_1.jpg"]
    assert [f["confirmed_by_you"] for f in data["photos"][0]["your_faces"]] == [True]
    assert {r["customer"] for r in data["recipients"]} == {"Polizei Test"}
    report = zipfile.ZipFile(io.BytesIO(request.package.file.open("rb").read()))
    assert "obama_4" not in report.read("report.html").decode()
    assert "Test Bank" not in report.read("report.html").decode()
    # The camera picture went with the DPO's decision, audited.
    assert not default_storage.exists(kept)
    assert request.events.filter(action="reference_frame_deleted", actor="dora").count() == 1


def test_a_possible_claim_restricts_nothing_before_the_dpo_confirms_it(
    transactional_db, celery_worker, settings
):
    settings.AUTO_APPROVE_REQUESTS = True
    world = seed_world("-claims")
    request = searched("claims.possible@example.org")
    [solo_1, _solo_4], group = world["obama_solo"], world["obama_group"]
    Match.objects.filter(request=request, face=group).update(tier="possible")
    request = filing.file_request(request, kinds=["erasure"], keep_template="no", decisions={
        match_of(request, solo_1).pk: "mine", match_of(request, group).pk: "mine"})
    # No auto-approval for a request with a claim; the claim restricts nothing.
    assert request.state == "awaiting_review"
    assert Face.objects.get(pk=solo_1.pk).restricted is True
    assert Face.objects.get(pk=group.pk).restricted is False
    assert request.events.get(action="filed").details["claims_for_the_dpo"] == 1

    claim = match_of(request, group)
    actions.perform(request, actions.DECIDE_CLAIMS, actor="dora", data={"faces": [claim.pk]})
    assert Face.objects.get(pk=group.pk).restricted is True
    claim.refresh_from_db()
    assert claim.dpo_decision == "confirmed" and claim.dpo_decided_by == "dora"
    assert request.events.filter(action="claims_confirmed").count() == 1


def test_a_second_requesters_selfie_matching_the_same_faces_goes_to_identity_review(
    transactional_db, celery_worker, client
):
    seed_world("-guard")
    first = searched("first.searcher@example.org")
    assert first.state == "matches_ready"
    # The same address searching again is no other person.
    again = searched("first.searcher@example.org", "obama_1.jpg")
    assert again.state == "matches_ready"
    # Another address is another person, even one that differs by a
    # ``+tag`` only (at most providers, another mailbox).
    tagged = searched("first.searcher+again@example.org", "obama_4.jpg",
                      state="identity_review")
    assert tagged.events.get(action="search_done").details["searched_by_others"] == 2
    # Someone else passes the camera check with another picture of the same face.
    second = searched("second.searcher@example.org", "obama_3.jpg", state="identity_review")
    assert second.selfie_live is True
    event = second.events.get(action="search_done")
    assert event.details["searched_by_others"] == 3  # first, again and tagged
    # Nothing about the matches is shown to them, nor that others searched.
    viewer = Client()
    intake.send_new_link(second)
    second.refresh_from_db()
    confirm_in(viewer, second)
    token = tokens.access_token(second)
    page = viewer.get(f"/r/{token}/matches/").content.decode()
    assert "first checks that the faces found are yours" in page
    assert "other people" not in page and first.reference not in page
    assert viewer.get(f"/r/{token}/faces/{second.matches.first().pk}.jpg").status_code == 404
    # The DPO sees the earlier request, and the camera picture.
    dora, _ = make_dpo()
    desk = log_in_verified(client, dora).get(f"/dpo/requests/{second.reference}/")
    body = desk.content.decode()
    assert first.reference in body
    assert "Other requests that matched the same faces lately" in body
