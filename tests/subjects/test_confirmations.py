"""Nothing irreversible in one click: a withdrawal and the DPO's approve,
reject and close are each confirmed on a page that says what they do."""

import pytest
from django.test import Client

from subjects.core import tokens
from subjects.models import RightsRequest
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import bound_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    return log_in_verified(Client(), make_dpo()[0])


def test_withdraw_asks_first_and_says_what_it_does(client):
    request = bound_request(client, "awaiting_review", "wanda@example.org")
    token = tokens.access_token(request)
    status = client.get(f"/r/{token}/status/").content.decode()
    # The status page links to the question; it holds no form that withdraws.
    assert f'href="/r/{token}/withdraw/"' in status
    assert f'action="/r/{token}/withdraw/"' not in status

    page = client.get(f"/r/{token}/withdraw/")
    text = page.content.decode()
    assert page.status_code == 200
    assert f"Withdraw your request {request.reference}?" in text
    assert "Your face template and every photo of you kept for this request are deleted" in text
    assert "This cannot be undone." in text
    # A post without the confirmation (an old form, a script) withdraws nothing.
    unconfirmed = client.post(f"/r/{token}/withdraw/")
    assert unconfirmed.status_code == 200 and "Yes, withdraw my request" in \
        unconfirmed.content.decode()
    assert RightsRequest.objects.get(pk=request.pk).state == "awaiting_review"

    done = client.post(f"/r/{token}/withdraw/", {"confirmed": "yes"}, follow=True)
    assert done.redirect_chain[-1][0] == f"/r/{token}/status/"
    assert "You withdrew this request" in done.content.decode()
    assert RightsRequest.objects.get(pk=request.pk).state == "withdrawn"


def test_withdraw_in_french_asks_in_french(client):
    request = bound_request(client, "awaiting_review", "wilfried@example.org", "fr")
    client.cookies["django_language"] = "fr"
    text = client.get(f"/r/{tokens.access_token(request)}/withdraw/").content.decode()
    assert "Oui, retirer ma demande" in text and "Cela ne peut pas être annulé." in text


def test_approve_needs_a_confirmation_that_says_what_it_does(desk):
    request = make_request("awaiting_review", kinds=("access", "erasure"))
    url = f"/dpo/requests/{request.reference}/actions/approve/"
    page = desk.post(url)
    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="confirm-action"' in text
    assert "Approving erases" in text and "This cannot be undone." in text
    assert 'name="confirmed" value="yes"' in text
    request.refresh_from_db()
    assert request.state == "awaiting_review" and not request.jobs.exists()

    assert desk.post(url, {"confirmed": "yes"}).status_code == 302
    request.refresh_from_db()
    assert request.state == "in_progress"


def test_reject_is_confirmed_with_the_reason_carried_over(desk):
    request = make_request("awaiting_review", language="en", kinds=("erasure",))
    url = f"/dpo/requests/{request.reference}/actions/reject/"
    data = {"reject-reason_template": "legal_claims", "reject-reason": "Evidence in a case."}
    text = desk.post(url, data).content.decode()
    assert "Rejecting closes the request" in text
    assert 'name="reject-reason" value="Evidence in a case."' in text
    assert RightsRequest.objects.get(pk=request.pk).state == "awaiting_review"
    assert desk.post(url, {**data, "confirmed": "yes"}).status_code == 302
    assert RightsRequest.objects.get(pk=request.pk).state == "rejected"


def test_closing_as_unfounded_is_confirmed_too(desk):
    request = make_request("awaiting_review")
    url = f"/dpo/requests/{request.reference}/actions/close_unfounded/"
    data = {"close_unfounded-reason": "Fifth identical request this week"}
    assert "Closing the request as unfounded ends it" in desk.post(url, data).content.decode()
    assert RightsRequest.objects.get(pk=request.pk).state == "awaiting_review"
    desk.post(url, {**data, "confirmed": "yes"})
    assert RightsRequest.objects.get(pk=request.pk).state == "rejected"


def test_a_reversible_action_needs_no_confirmation(desk):
    request = make_request("awaiting_review")
    response = desk.post(f"/dpo/requests/{request.reference}/actions/ask_for_information/",
                         {"ask_for_information-question": "Which years?"})
    assert response.status_code == 302


def test_the_approval_confirmation_leaves_out_a_right_refused_there(desk):
    request = make_request("awaiting_review", kinds=("access", "erasure"))
    url = f"/dpo/requests/{request.reference}/actions/approve/"
    data = {"approve-erasure_refusal": "legal_claims",
            "approve-erasure_reason": "Evidence in a case."}
    text = desk.post(url, data).content.decode()
    assert 'id="refused-rights"' in text and "Erasure" in text
    assert "Approving erases" not in text
    assert 'name="approve-erasure_refusal" value="legal_claims"' in text
