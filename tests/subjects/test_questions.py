"""Two-way questions: the DPO's question shows on the person's status page
with a form to answer it; the answer is kept with the request, shows on the
DPO's page, and the DPO is alerted; a reply to the e-mail goes to the DPO."""

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import Client

from subjects.core import tokens
from subjects.jobs.delivery import build_message
from subjects.models import OutboundEmail
from subjects.review import decisions
from tests.conftest import FACES_DIR
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import confirmed_again_in, upload

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


def test_where_asked_the_person_answers_with_a_photo_that_the_dpo_sees_and_closing_deletes():
    dpo = log_in_verified(Client(), make_dpo()[0])
    request = make_request("awaiting_review", email="photo.answer@example.org")
    dpo.post(f"/dpo/requests/{request.reference}/actions/ask_for_information/",
             {"ask_for_information-question": "Please send a recent photo of your face.",
              "ask_for_information-photo": "on"})
    request.refresh_from_db()
    assert request.state == "info_requested"
    person = Client()
    confirmed_again_in(person, request)
    token = tokens.access_token(request)
    page = person.get(f"/r/{token}/status/").content.decode()
    assert "A photo, if we asked for one" in page
    # Not a picture: refused with a sentence, the question still open.
    bad = person.post(f"/r/{token}/answer/", {
        "answer": "Here it is.", "photo": upload("notes.jpg", b"not an image at all")})
    assert bad.status_code == 400
    assert "This file is not a photo we can read" in bad.content.decode()
    request.refresh_from_db()
    assert request.state == "info_requested" and request.answer_photo_file == ""

    response = person.post(f"/r/{token}/answer/", {"answer": "Here it is, taken today.",
                                                   "photo": upload("obama_2.jpg")})
    assert response.status_code == 302
    request.refresh_from_db()
    name = request.answer_photo_file
    assert request.state == "awaiting_review" and name and default_storage.exists(name)
    # Re-encoded: not the bytes sent (no metadata travels with them).
    assert default_storage.open(name).read() != (FACES_DIR / "obama_2.jpg").read_bytes()
    page = dpo.get(f"/dpo/requests/{request.reference}/").content.decode()
    assert "The photo the person sent with their answer" in page
    image = dpo.get(f"/dpo/requests/{request.reference}/answer-photo.jpg")
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    # Someone not signed in is sent to the DPO's login, and gets no picture.
    stranger = Client().get(f"/dpo/requests/{request.reference}/answer-photo.jpg")
    assert stranger.status_code == 302 and stranger["Location"].startswith("/dpo/login/")
    # Closing deletes it with the rest of the biometric data.
    decisions.reject_request(request, actor="dpo", reason="Not the same person.",
                             ground="other")
    request.refresh_from_db()
    assert request.answer_photo_file == "" and not default_storage.exists(name)


def test_a_photo_is_refused_where_none_was_asked():
    request = make_request("awaiting_review", email="no.photo@example.org")
    decisions.ask_for_information(request, actor="dpo", question="Which city?")
    person = Client()
    confirmed_again_in(person, request)
    token = tokens.access_token(request)
    assert "A photo, if we asked for one" not in \
        person.get(f"/r/{token}/status/").content.decode()
    response = person.post(f"/r/{token}/answer/", {"answer": "Lyon.",
                                                   "photo": upload("obama_2.jpg")})
    assert response.status_code == 400
    assert "No photo was asked for" in response.content.decode()
    request.refresh_from_db()
    assert request.state == "info_requested" and request.answer_photo_file == ""
