"""Withdrawing (Art. 7(3)): from every state that is not final, the error
state included, with the biometric data deleted at once; and withdrawing
the consent to keep the template is as easy as giving it was."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from search.models import Suppression
from subjects.core import tokens
from subjects.core.states import FINAL, WITHDRAWABLE, State
from subjects.jobs.delivery import build_message
from subjects.models import OutboundEmail, RightsRequest
from tests.subjects.helpers import confirmed_again_in, verified_in
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db


def test_every_state_that_is_not_final_can_be_withdrawn_but_unverified():
    # An unverified request has no person to act yet (it simply expires).
    assert set(State) - FINAL - WITHDRAWABLE == {State.UNVERIFIED, State.SEARCHING,
                                                 State.IN_PROGRESS}


@pytest.mark.parametrize("filed", [False, True])
def test_withdrawal_from_error_deletes_the_template_and_the_live_frame_at_once(client, filed):
    request = verified_in(client, f"error.{int(filed)}@example.org")
    frame = default_storage.save(f"selfies/live-{request.reference}.jpg",
                                 ContentFile(b"a live camera frame"))
    RightsRequest.objects.filter(pk=request.pk).update(
        state="error", selfie_embedding=[0.1] * 128, selfie_model="dlib", selfie_live=True,
        selfie_review_file=frame, access=filed, erasure=filed,
        received_at=request.created_at if filed else None)
    token = tokens.access_token(request)
    page = client.get(f"/r/{token}/status/").content.decode()
    assert "Something went wrong while we handled your request" in page
    assert "This request is closed" not in page
    assert "Withdraw my request" in page

    # The status page's button, then the confirmation's "yes" (issue 35).
    asked = client.post(f"/r/{token}/withdraw/")
    assert asked.status_code == 200 and "Yes, withdraw my request" in asked.content.decode()
    response = client.post(f"/r/{token}/withdraw/", {"confirmed": "yes"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "withdrawn" and request.closed_at is not None
    assert request.selfie_embedding is None
    assert request.selfie_review_file == "" and not default_storage.exists(frame)
    event = request.events.order_by("pk").last()
    assert (event.action, event.from_state, event.to_state, event.actor) == (
        "withdrawn", "error", "withdrawn", "requester")
    page = client.get(f"/r/{token}/status/").content.decode()
    assert "You withdrew this request. Your face template has been deleted." in page


def test_the_kept_template_is_let_go_with_one_button_on_the_status_page():
    """The consent was one tick at filing; its withdrawal is one button,
    offered by the completion e-mail and the status page (before: only by
    writing to the DPO, who ran a management command)."""
    seed_world("-button")
    request = file_via_worker("one.button@example.org", kinds=["objection"], keep_template="yes",
                              in_process=True)
    request = carry_out_in_process(request)
    assert request.state == "completed"
    assert Suppression.objects.filter(request_reference=request.reference).count() == 1
    mail = build_message(OutboundEmail.objects.get(request=request, kind="objection_done"))
    token = tokens.access_token(request)
    assert ("You can withdraw this consent at any time, as easily as you gave it, with one "
            "button on your request's page:") in mail.body
    assert f"/r/{token}/status/" in mail.body
    assert f"/r/{token}/status/" in mail.alternatives[0][0]

    browser = Client()
    confirmed_again_in(browser, request)
    page = browser.get(f"/r/{token}/status/").content.decode()
    assert "Withdraw my consent: delete my face template" in page
    response = browser.post(f"/r/{token}/forget-template/")
    assert response.status_code == 302
    assert not Suppression.objects.filter(request_reference=request.reference).exists()
    event = request.events.order_by("pk").last()
    assert (event.action, event.actor) == ("template_consent_withdrawn", "requester")
    page = browser.get(f"/r/{token}/status/").content.decode()
    assert "Withdraw my consent: delete my face template" not in page
    # Another browser cannot do it for the person.
    stranger = Client().post(f"/r/{token}/forget-template/")
    assert stranger.status_code == 403
