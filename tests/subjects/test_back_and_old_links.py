"""Post/redirect/get: Back and reload never post again; an address opened
the wrong way, or one that does not exist, gets a page that says what to do."""

import pytest
from django.test import Client

from search.models import Face
from subjects.core import tokens
from subjects.models import Match, RightsRequest
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import bound_request, ingest

pytestmark = pytest.mark.django_db


def test_back_after_filing_lands_on_the_status_page(client):
    request = bound_request(client, "matches_ready", "bernd@example.org", access=False)
    ingest("obama_1.jpg")
    face = Face.objects.get(photo__file_name="obama_1.jpg")
    match = Match.objects.create(request=request, face=face, photo_id_at_search=face.photo_id,
                                 distance=0.31, tier="match")
    token = tokens.access_token(request)
    answers = {f"decision_{match.pk}": "mine", "kinds": ["erasure", "access"]}
    # The erasure is shown back on a page of its own, opened by GET.
    check = client.post(f"/r/{token}/file/", answers)
    assert check.status_code == 302 and check["Location"].startswith(f"/r/{token}/file/?")
    shown = client.get(check["Location"])
    assert shown.status_code == 200
    assert "Check your request before sending it" in shown.content.decode()
    sent = client.post(f"/r/{token}/file/", {**answers, "checked": "yes"})
    assert sent.status_code == 302 and sent["Location"] == f"/r/{token}/status/"
    assert RightsRequest.objects.get(pk=request.pk).state == "awaiting_review"
    # Back (or a reload) opens the check page's address again: a GET, which
    # now leads to the status page, and files nothing twice.
    back = client.get(check["Location"], follow=True)
    assert back.redirect_chain[-1][0] == f"/r/{token}/status/"
    assert f"Your request {request.reference}" in back.content.decode()
    assert request.events.filter(action="filed").count() == 1


@pytest.mark.parametrize("language, sentence", [
    ("en", "This page cannot be opened this way"),
    ("de", "Diese Seite kann so nicht geöffnet werden"),
])
def test_an_address_opened_the_wrong_way_gets_a_page(client, language, sentence):
    client.cookies["django_language"] = language
    response = client.put("/start/")
    assert response.status_code == 405
    text = response.content.decode()
    assert sentence in text and f'<html lang="{language}">' in text
    assert "GET" in response["Allow"]


def test_the_dpo_action_address_opened_by_get_gets_a_page():
    desk = log_in_verified(Client(), make_dpo()[0])
    request = make_request("awaiting_review")
    response = desk.get(f"/dpo/requests/{request.reference}/actions/approve/")
    assert response.status_code == 405
    assert "Nothing was sent or changed." in response.content.decode()


def test_an_unknown_address_gets_a_page_that_says_what_to_do(client):
    client.cookies["django_language"] = "fr"
    response = client.get("/r/not-a-token/status/")
    assert response.status_code == 404
    text = response.content.decode()
    assert "Cette page n’existe pas" in text
    assert 'href="/start/"' in text
