"""Confirmation links as an attacker holding an old e-mail tries them: a
used link opened in another browser offers only to send the link again to
the request's address (never the request's access token), an old link
stops working after its stated 24 hours, asking again sends the pending
link again instead of killing it, and /start/ answers the same whether or
not an address has a link pending."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from subjects.core import tokens
from subjects.models import OutboundEmail, RightsRequest
from subjects.person import intake
from tests.subjects.helpers import confirm_in, verified_in

pytestmark = pytest.mark.django_db


def later(monkeypatch, delta: dt.timedelta) -> None:
    """The signer's clock (and nothing else) moves on by ``delta``."""
    moved = (timezone.now() + delta).timestamp()
    monkeypatch.setattr("django.core.signing.time.time", lambda: moved)


def links_sent(request) -> int:
    return OutboundEmail.objects.filter(request=request, kind="verify_email").count()


def test_a_used_link_in_another_browser_yields_no_access_token():
    owner = Client()
    request = intake.start_request(email="owner.used@example.org", language="en")
    link = f"/verify/{tokens.verification_token(request)}/"
    confirm_in(owner, request)
    stranger = Client()
    page = stranger.get(link)
    body = page.content.decode()
    assert page.status_code == 410 and "already been used, in another browser" in body
    assert tokens.access_token(request) not in body and "/r/" not in body
    assert re.search(rf'action="{re.escape(link)}again/"', body)
    # Asking there sends the link to the request's address, and opens nothing.
    sent = stranger.post(f"{link}again/")
    assert sent.status_code == 200 and "Check your e-mail" in sent.content.decode()
    assert links_sent(request) == 2
    assert stranger.get(f"/r/{tokens.access_token(request)}/status/").status_code == 403


def test_an_old_verification_link_yields_nothing_after_its_age(monkeypatch):
    owner = Client()
    request = intake.start_request(email="owner.old@example.org", language="en")
    link = f"/verify/{tokens.verification_token(request)}/"
    confirm_in(owner, request)
    later(monkeypatch, tokens.VERIFICATION_MAX_AGE + dt.timedelta(minutes=1))
    for browser in (Client(), owner):
        page = browser.get(link)
        body = page.content.decode()
        assert page.status_code == 410 and "This link has expired" in body
        assert tokens.access_token(request) not in body and "/again/" not in body
        refused = browser.post(f"{link}again/")
        assert refused.status_code == 410 and "This link has expired" in refused.content.decode()
    assert links_sent(request) == 1


def test_asking_again_keeps_the_pending_link_working():
    # The owner asked for a link on their phone; someone holding an old,
    # used link or a request link asks again and again: the phone's link
    # keeps working.
    request = verified_in(Client(), "owner.pending@example.org")
    used_link = f"/verify/{tokens.verification_token(request)}/"
    phone = Client()
    phone.post(f"/r/{tokens.access_token(request)}/confirm/")
    request.refresh_from_db()
    pending = tokens.verification_token(request)
    for _ in range(2):
        Client().post(f"{used_link}again/")
        # Or with the request link of a forwarded e-mail.
        Client().post(f"/r/{tokens.access_token(request)}/confirm/")
    request.refresh_from_db()
    assert tokens.verification_token(request).split(":")[1] == pending.split(":")[1]
    assert phone.post(f"/verify/{pending}/").status_code == 302
    assert phone.get(f"/r/{tokens.access_token(request)}/selfie/").status_code == 200


def test_start_answers_the_same_with_and_without_a_pending_link():
    def answer(email: str):
        browser = Client()
        response = browser.post("/start/", {"email": email, "language": "en", "consent": "on"})
        page = browser.get(response["Location"])
        # The page as a person reads it (each browser has its own form token).
        text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page.content.decode())
        return response.status_code, response["Location"], page.status_code, text

    first = intake.start_request(email="has.pending@example.org", language="en")
    first_link = f"/verify/{tokens.verification_token(first)}/"
    pending = answer("has.pending@example.org")
    fresh = answer("never.seen@example.org")
    assert pending == fresh
    # The pending request goes on (no second one), its link sent again.
    [request] = RightsRequest.objects.filter(email="has.pending@example.org")
    assert links_sent(request) == 2
    # The link of the first e-mail still works.
    assert Client().post(first_link).status_code == 302
