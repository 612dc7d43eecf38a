"""Request links are bound to the browser that confirmed the address: the
attack where someone verifies their own address and sends the request link
to a victim ("check whether your face is in the database") gets the victim
nothing but an offer to e-mail the attacker's own address."""

import pytest
from django.test import Client

from subjects.core import tokens
from subjects.jobs import selfie_search
from subjects.models import OutboundEmail
from subjects.person import filing, intake
from subjects.person.selfie import submit_selfie
from tests.conftest import FACES_DIR
from tests.subjects.helpers import confirm_in, verified_in
from tests.subjects.scenario import seed_world

pytestmark = pytest.mark.django_db

PAGES = ["", "selfie/", "live/", "matches/", "status/", "progress.json", "faces/1.jpg"]
POSTS = ["selfie/", "live/step/", "file/", "withdraw/", "answer/", "forget-template/"]


def main_of(response) -> str:
    body = response.content.decode()
    return body[body.index("<main"):body.index("</main>")]


def assert_nothing_but_the_offer(response, request) -> None:
    body = main_of(response)
    assert response.status_code == 403, response.status_code
    assert "Confirm your e-mail address in this browser" in body
    assert request.email not in body
    for private in ("Step 2", "camera check", "challenge", "matches", "Withdraw"):
        assert private not in body, private


def test_a_request_link_opened_in_a_second_browser_gets_only_the_confirmation_page(client):
    attacker = verified_in(client, "attacker@example.org")
    token = tokens.access_token(attacker)
    assert client.get(f"/r/{token}/selfie/").status_code == 200
    victim = Client()
    for page in PAGES:
        assert_nothing_but_the_offer(victim.get(f"/r/{token}/{page}"), attacker)
    for page in POSTS:
        assert_nothing_but_the_offer(victim.post(f"/r/{token}/{page}", {"step": "begin"}),
                                     attacker)
    attacker.refresh_from_db()
    assert attacker.state == "verified" and not attacker.challenges.exists()

    # What the victim can do: have a new link sent to the request's address,
    # which is the attacker's own, not theirs.
    sent = victim.post(f"/r/{token}/confirm/")
    assert sent.status_code == 200 and "Check your e-mail" in sent.content.decode()
    links = OutboundEmail.objects.filter(request=attacker, kind="verify_email")
    assert links.count() == 2
    assert {m.recipient for m in links} == {"attacker@example.org"}
    assert_nothing_but_the_offer(victim.get(f"/r/{token}/selfie/"), attacker)


def test_the_new_link_opens_the_request_in_the_browser_that_confirms_it(client):
    request = verified_in(client, "two.devices@example.org")
    token = tokens.access_token(request)
    phone = Client()
    assert phone.get(f"/r/{token}/selfie/").status_code == 403
    phone.post(f"/r/{token}/confirm/")
    request.refresh_from_db()
    confirmed = phone.post(f"/verify/{tokens.verification_token(request)}/")
    assert confirmed.status_code == 302
    assert phone.get(f"/r/{token}/selfie/").status_code == 200
    # The first browser keeps working; the link works once.
    assert client.get(f"/r/{token}/selfie/").status_code == 200
    assert request.events.filter(action="browser_confirmed").count() == 1


def test_the_binding_cookie_is_signed_and_http_only(client):
    request = intake.start_request(email="cookie@example.org", language="en")
    response = client.post(f"/verify/{tokens.verification_token(request)}/")
    cookie = response.cookies[tokens.browser_cookie_name(request)]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    token = tokens.access_token(request)
    assert client.get(f"/r/{token}/selfie/").status_code == 200
    # A cookie copied to another request's name, or altered, binds nothing.
    other = verified_in(Client(), "other.cookie@example.org")
    thief = Client()
    thief.cookies[tokens.browser_cookie_name(other)] = cookie.value
    assert thief.get(f"/r/{tokens.access_token(other)}/selfie/").status_code == 403
    client.cookies[tokens.browser_cookie_name(request)] = cookie.value[:-2] + "xx"
    assert client.get(f"/r/{token}/selfie/").status_code == 403


def test_a_closed_requests_link_shows_nothing_personal(client):
    """A request closed while its matches were on show (their crops served
    to this browser a moment before) shows none of them any more, on any
    page, the crops' own addresses included. Broken by hand (face_crop
    opened to closed requests like the status page, without its state
    check): the crop of a withdrawn request's match came back,
    "AssertionError: ('faces/<match>.jpg', 200)"."""
    seed_world("-closed")
    request = verified_in(client, "closed.request@example.org")
    token = tokens.access_token(request)
    request = submit_selfie(request, (FACES_DIR / "obama_2.jpg").read_bytes(), live=True)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    request.refresh_from_db()
    assert request.state == "matches_ready"
    crops = [f"faces/{pk}.jpg" for pk in request.matches.values_list("pk", flat=True)]
    # Before closing: the matches, their crops, to this browser.
    page = client.get(f"/r/{token}/matches/").content.decode()
    assert len(crops) >= 3 and all(f"/r/{token}/{crop}" in page for crop in crops)
    shown = client.get(f"/r/{token}/{crops[0]}")
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg"

    filing.withdraw_request(request)
    for page in ("", "selfie/", "live/", "matches/", "progress.json", *crops):
        response = client.get(f"/r/{token}/{page}")
        assert response.status_code == 410, (page, response.status_code)
        body = main_of(response)
        assert "This request is closed" in body
        assert request.email not in body and "Withdrawn" not in body
        assert "/faces/" not in body and "This is me" not in body
    # Its status stays reachable, in the browser that confirmed the address,
    # with no face on it.
    status = client.get(f"/r/{token}/status/")
    assert status.status_code == 200 and "You withdrew this request" in main_of(status)
    assert "/faces/" not in status.content.decode() and "<img" not in main_of(status)
    assert_nothing_but_the_offer(Client().get(f"/r/{token}/status/"), request)


def test_a_link_confirmed_again_works_for_a_closed_request_and_dies_with_its_data(client):
    request = verified_in(client, "after.closing@example.org")
    token = tokens.access_token(request)
    filing.withdraw_request(request)
    laptop = Client()
    laptop.post(f"/r/{token}/confirm/")
    request.refresh_from_db()
    confirm_in(laptop, request)
    assert "You withdrew this request" in laptop.get(f"/r/{token}/status/").content.decode()
    # Once the address is purged, nothing can be sent.
    type(request).objects.filter(pk=request.pk).update(email="")
    page = Client().get(f"/r/{token}/status/").content.decode()
    assert "E-mail me a new link" not in page
