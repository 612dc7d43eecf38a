"""Nobody stranded: every page a person reaches leads on. The identity
check's page links to a status page that opens (and says how long the check
usually takes, as measured); a second click on a used confirmation link in
the same browser goes on with the request; the start form sent again
within the link's lifetime goes on with the pending request."""

import re

import pytest
from django.conf import settings
from django.test import Client

from subjects.core import tokens
from subjects.core.events import Action
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.models import OutboundEmail, RightsRequest
from subjects.person import intake
from subjects.review import actions
from tests.subjects.dpo_helpers import make_request
from tests.subjects.helpers import confirm_in

pytestmark = pytest.mark.django_db


def in_identity_review(email: str) -> RightsRequest:
    request = make_request("searching", email=email, received_days_ago=None)
    return transition(request, State.IDENTITY_REVIEW, actor="system", action=Action.SEARCH_DONE)


def test_the_identity_checks_follow_link_opens_a_status_page_with_the_measured_time():
    person = Client()
    request = in_identity_review("checked.person@example.org")
    intake.send_new_link(request)
    request.refresh_from_db()
    confirm_in(person, request)
    token = tokens.access_token(request)

    page = person.get(f"/r/{token}/matches/").content.decode()
    assert f'href="/r/{token}/status/"' in page
    # Nothing decided yet: no time is claimed.
    assert "took" not in page and "We write to you as soon as the check is done" in page
    status = person.get(f"/r/{token}/status/")
    assert status.status_code == 200, status.get("Location")
    assert "checks that the photo is yours before you see any result" in status.content.decode()

    # Fewer checks decided than the publishing threshold: still no time (a
    # median of one or two checks would tell when someone's was decided).
    threshold = settings.TRANSPARENCY_MIN_COUNT
    for n in range(threshold):
        other = in_identity_review(f"decided.before.{n}@example.org")
        actions.perform(other, actions.CONFIRM_REQUESTER, actor="dpo:dora")
        if n < threshold - 1:
            assert "took" not in person.get(f"/r/{token}/status/").content.decode()
    # As many as the threshold: the pages give the measured time.
    for path in (f"/r/{token}/matches/", f"/r/{token}/status/"):
        text = person.get(path).content.decode()
        assert ("took less than an hour for this check, as a median (checks decided in the "
                f"last 90 days: {threshold})") in text, path


def test_a_second_click_on_a_used_link_in_the_same_browser_goes_on_with_the_request():
    person = Client()
    request = intake.start_request(email="clicks.twice@example.org", language="en")
    link = f"/verify/{tokens.verification_token(request)}/"
    assert person.get(link).status_code == 200
    assert person.post(link).status_code == 302
    home = f"/r/{tokens.access_token(RightsRequest.objects.get(pk=request.pk))}/"
    for again in (person.get(link), person.post(link)):
        assert again.status_code == 302 and again["Location"] == home
    assert person.get(home, follow=True).status_code == 200

    # Another browser is offered a new link to the same address, nothing else.
    stranger = Client()
    page = stranger.get(link)
    assert page.status_code == 410
    text = page.content.decode()
    assert "already been used, in another browser" in text and "E-mail me a new link" in text
    assert "clicks.twice@example.org" not in text
    assert stranger.get(home).status_code == 403


def test_the_start_form_sent_again_goes_on_with_the_pending_request():
    browser = Client()
    form = {"email": "sends.twice@example.org", "language": "fr", "consent": "on"}
    first = browser.post("/start/", form)
    assert first.status_code == 302 and first["Location"] == "/start/sent/"
    # The same answer as the first time (nobody learns that a link is
    # pending): the pending link is sent again, no second request started.
    again = browser.post("/start/", form)
    assert again.status_code == 302 and again["Location"] == "/start/sent/"
    assert RightsRequest.objects.filter(email=form["email"]).count() == 1
    request = RightsRequest.objects.get(email=form["email"])
    mails = OutboundEmail.objects.filter(request=request, kind="verify_email")
    assert mails.count() == 2
    page = browser.get(again["Location"]).content.decode()
    assert "Open it within 24 hours" in page or "dans les 24 heures" in page
    # Once the first link is used, the form starts a new request again.
    confirm_in(Client(), request)
    browser.post("/start/", form)
    assert RightsRequest.objects.filter(email=form["email"]).count() == 2


def test_the_status_page_of_a_completed_access_request_offers_the_package_until_it_expires():
    import datetime as dt

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from subjects.models import AccessPackage

    person = Client()
    request = make_request("completed", email="gets.package@example.org", kinds=("access",))
    intake.send_new_link(request)
    request.refresh_from_db()
    confirm_in(person, request)
    package = AccessPackage(request=request, size=3, sha256="0" * 64, created_at=timezone.now(),
                            expires_at=timezone.now() + dt.timedelta(days=7))
    package.file.save("package.zip", ContentFile(b"zip"), save=False)
    package.save()
    page = person.get(f"/r/{tokens.access_token(request)}/status/").content.decode()
    # The page's own link (signed when the page was made: its timestamp may
    # be another second than one made here) opens this package.
    link = re.search(r'href="/package/([^"/]+)/"', page)
    assert link and "You can download it until" in page
    assert tokens.package_for_download(link.group(1)) == package
    assert person.get(f"/package/{link.group(1)}/").status_code == 200

    AccessPackage.objects.filter(pk=package.pk).update(
        expires_at=timezone.now() - dt.timedelta(days=1))
    page = person.get(f"/r/{tokens.access_token(request)}/status/").content.decode()
    assert "/package/" not in page and "the file has been deleted since" in page


def test_the_identity_check_can_ask_the_person_for_information_and_come_back():
    from subjects.jobs import delivery

    request = in_identity_review("asked.first@example.org")
    assert actions.ASK_FOR_INFORMATION in actions.available_actions(request)
    actions.perform(request, actions.ASK_FOR_INFORMATION, actor="dpo:dora",
                    data={"question": "Could you send a photo taken from closer?"})
    request.refresh_from_db()
    # Nothing filed yet: no time limit runs, so none is said to be paused.
    assert request.state == "info_requested" and request.paused_since is None
    [mail] = OutboundEmail.objects.filter(request=request, kind="info_needed")
    body = delivery.build_message(mail).body
    assert "Could you send a photo taken from closer?" in body
    assert "we cannot show you the result of your search" in body
    assert "time limit for your request is paused" not in body

    actions.perform(request, actions.INFORMATION_RECEIVED, actor="dpo:dora",
                    data={"note": "photo received"})
    request.refresh_from_db()
    assert request.state == "identity_review"
    actions.perform(request, actions.CONFIRM_REQUESTER, actor="dpo:dora")
    request.refresh_from_db()
    assert request.state == "matches_ready"
