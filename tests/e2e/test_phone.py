"""The citizen's journeys at a phone's size (360 × 740, touch), where most
people will check their face: every page passes axe-core, none scrolls
sideways, and a screenshot of each is kept (build/screenshots)."""

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext

from search.models import Face
from subjects.models import LivenessChallenge, Match, RightsRequest
from subjects.person.camera_check.messages import message_for
from tests.e2e.conftest import check_accessibility, screenshot
from tests.e2e.test_journeys import (
    FAKE_CAMERA,
    confirmed_on_selfie_page,
    held_up_segments,
    wait_for,
)
from tests.subjects.helpers import ingest

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 1, "bypass_csp": True}


def phone(browser, locale: str):
    context = browser.new_context(**PHONE, locale=locale)
    context.add_init_script(FAKE_CAMERA)
    return context


def holds_on_a_phone(page, name: str) -> None:
    """No sideways scrolling, axe-core clean, and a screenshot to look at."""
    page.wait_for_load_state()
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{name} scrolls sideways: {widths}"
    check_accessibility(page, name)
    screenshot(page, f"phone-{name}")


def test_a_french_camera_check_that_fails_is_said_in_french_and_ticks_nothing(
        transactional_db, site, browser, inbox):
    context = phone(browser, "fr-FR")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    address = "camille.phone@example.org"
    confirmed_on_selfie_page(page, site, inbox, address, language="fr")
    holds_on_a_phone(page, "selfie-fr")
    page.click("a[href$='/live/']")
    page.wait_for_url(re.compile(r"/live/$"))
    holds_on_a_phone(page, "camera-fr")

    request = RightsRequest.objects.get(email=address)
    poses = LivenessChallenge.objects.filter(request=request).latest("pk").poses
    page.evaluate("""([segments, waitText]) => Promise.all(segments.map(urls =>
        Promise.all(urls.map(url => new Promise(resolve => {
          const image = new Image(); image.onload = () => resolve(image); image.src = url;
        }))))).then(images => { window.__camera.segments = images;
                                window.__camera.waitText = waitText; })""",
                  [held_up_segments(poses), page.get_attribute("#live-start", "data-wait")])
    page.tap("#live-start")
    wait_for(lambda: page.locator("#live-error").is_visible(), what="the camera check")
    challenge = LivenessChallenge.objects.filter(request=request).latest("pk")
    with translation.override("fr"):
        expected = str(message_for(challenge.failure))
        failed = gettext("not passed")
    assert page.inner_text("#live-error-text") == expected
    # The pose whose burst was refused says so, with no tick; a pose the
    # server accepted before it keeps its own.
    refused = page.inner_text("#live-steps li:last-child")
    assert "✓" not in refused and f"✗ {failed}" in refused, page.inner_text("#live-steps")
    assert page.locator("#live-steps li.failed").count() == 1
    assert challenge.failure not in page.content()
    holds_on_a_phone(page, "camera-failed-fr")
    assert errors == []
    context.close()


def test_the_german_journey_holds_at_a_phones_width(transactional_db, site, browser, inbox):
    """German words are long: the match cards, the check page, the status
    page and the withdrawal's question hold at 360 px."""
    ingest("obama_1.jpg", "obama_4.jpg", "group_obama_biden.jpg")
    context = phone(browser, "de-DE")
    page = context.new_page()
    page.goto(site + "/")
    holds_on_a_phone(page, "home-de")
    address = "maximiliane.schmidt@example.org"
    page.goto(site + "/start/")
    page.select_option("select[name=language]", "de")
    page.fill("input[name=email]", address)
    # The field shows the whole of a normal address.
    assert page.evaluate("""() => { const f = document.querySelector('input[name=email]');
                                    return f.scrollWidth <= f.clientWidth; }""")
    holds_on_a_phone(page, "start-de")
    confirmed_on_selfie_page(page, site, inbox, address, language="de")

    # Matches ready, as after a passed camera check (the search is not the
    # point here): every face found, one card each.
    request = RightsRequest.objects.get(email=address)
    for n, face in enumerate(Face.objects.order_by("pk")):
        Match.objects.create(request=request, face=face, photo_id_at_search=face.photo_id,
                             distance=0.30 + n / 100, tier="match")
    RightsRequest.objects.filter(pk=request.pk).update(state="matches_ready", selfie_live=True)
    page.goto(page.url.replace("/selfie/", "/matches/"))
    holds_on_a_phone(page, "matches-de")
    for radio in page.locator("input[type=radio][value=mine]").all():
        radio.check()
    page.check("#kind_erasure")
    page.locator("form[method=post] button[type=submit]").last.tap()
    page.wait_for_url(re.compile(r"/file/\?"))
    holds_on_a_phone(page, "check-de")
    page.tap("button[name=checked]")
    page.wait_for_url(re.compile(r"/status/$"))
    holds_on_a_phone(page, "status-de")
    # Back from the status page: no resubmission, the status page again.
    page.go_back()
    page.wait_for_url(re.compile(r"/status/$"))
    page.tap("a[href$='/withdraw/']")
    page.wait_for_url(re.compile(r"/withdraw/$"))
    holds_on_a_phone(page, "withdraw-de")
    page.goto(site + "/r/not-a-request/status/")
    holds_on_a_phone(page, "not-found-de")
    context.close()
