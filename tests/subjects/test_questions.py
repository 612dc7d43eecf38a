"""Two-way questions: the DPO's question shows on the person's status page
with a form to answer it; the answer is kept with the request, shows on the
DPO's page, and the DPO is alerted; a reply to the e-mail goes to the DPO."""

import pytest
from django.conf import settings
from django.test import Client

from subjects.core import tokens
from subjects.jobs.delivery import build_message
from subjects.models import OutboundEmail
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import confirmed_again_in

pytestmark = pytest.mark.django_db


def test_an_answer_on_the_status_page_reaches_the_dpos_page():
    dpo = log_in_verified(Client(), make_dpo()[0])
    request = make_request("awaiting_review", email="asked@example.org", received_days_ago=3)
    question = "Which of the two photos from 2019 is you: the one on the left?"
    response = dpo.post(f"/dpo/requests/{request.reference}/actions/ask_for_information/",
                        {"ask_for_information-question": question})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "info_requested" and request.paused_since is not None

    # The e-mail asks for a reply: a reply goes to the DPO.
    mail = build_message(OutboundEmail.objects.get(request=request, kind="info_needed"))
    assert mail.reply_to == [settings.DPO_EMAIL]
    assert mail.extra_headers.get("Reply-To") is None  # Django writes reply_to itself
    assert f"Reply-To: {settings.DPO_EMAIL}" in mail.message().as_string()

    person = Client()
    confirmed_again_in(person, request)
    token = tokens.access_token(request)
    page = person.get(f"/r/{token}/status/").content.decode()
    assert question in page
    assert "Send my answer to the Data Protection Officer" in page
    # An empty answer is refused with a sentence; nothing changes.
    empty = person.post(f"/r/{token}/answer/", {"answer": "  "})
    assert empty.status_code == 400
    assert "Please write your answer." in empty.content.decode()

    answer = "The one on the left, taken in Lyon in May 2019."
    response = person.post(f"/r/{token}/answer/", {"answer": answer})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "awaiting_review" and request.paused_since is None
    event = request.events.order_by("pk").last()
    assert (event.action, event.actor, event.reason) == ("info_received", "requester", answer)
    assert OutboundEmail.objects.filter(request=request, kind="dpo_answer_received",
                                        recipient=settings.DPO_EMAIL).count() == 1
    page = dpo.get(f"/dpo/requests/{request.reference}/").content.decode()
    assert answer in page
    # Answered: no form any more, and a second answer is refused.
    assert "Send my answer" not in person.get(f"/r/{token}/status/").content.decode()
    again = person.post(f"/r/{token}/answer/", {"answer": "And another thing."})
    assert again.status_code == 409
    assert not request.events.filter(reason="And another thing.").exists()
    # The person's own data stays theirs: the DPO's alert does not quote it.
    alert = build_message(OutboundEmail.objects.get(request=request, kind="dpo_answer_received"))
    assert answer not in alert.body and request.reference in alert.body
