"""When a request link is known to have leaked, the DPO cuts every link
made so far (a new access salt) and the person is e-mailed a new one: the
leaked link opens nothing anywhere, the new one opens the request in the
browser that confirmed the address."""

import pytest
from django.test import Client

from subjects.core import tokens
from subjects.jobs import delivery
from subjects.models import OutboundEmail
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import confirm_in, links_in, path_of

pytestmark = pytest.mark.django_db


def test_the_dpo_cuts_a_leaked_link_and_the_person_gets_a_new_one():
    from subjects.person import intake

    request = make_request("awaiting_review", email="leaked.link@example.org")
    owner = Client()
    intake.send_new_link(request)
    request.refresh_from_db()
    confirm_in(owner, request)
    leaked = f"/r/{tokens.access_token(request)}/status/"
    assert owner.get(leaked).status_code == 200

    dora, _ = make_dpo()
    desk = log_in_verified(Client(), dora)
    page = desk.get(f"/dpo/requests/{request.reference}/").content.decode()
    assert "Cut the request&#x27;s links and e-mail a new one" in page
    done = desk.post(f"/dpo/requests/{request.reference}/actions/renew_links/")
    assert done.status_code == 302

    # The leaked link opens nothing, not even in the owner's browser.
    for browser in (owner, Client()):
        assert browser.get(leaked).status_code == 404
    [mail] = OutboundEmail.objects.filter(request=request, kind="links_renewed")
    assert mail.recipient == "leaked.link@example.org"
    message = delivery.build_message(mail)
    [new] = {path_of(link) for link in links_in(message.body) if "/r/" in link}
    assert new != leaked and owner.get(new).status_code == 200
    assert Client().get(new).status_code == 403
    request.refresh_from_db()
    assert request.events.get(action="links_renewed").actor == f"dpo:{dora.email}"
