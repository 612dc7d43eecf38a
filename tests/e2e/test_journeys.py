"""The citizen's journey (in Dutch) and the DPO's, in Chromium."""

import base64
import io
import json
import re
import time
import zipfile

import pytest

from subjects.dpo.accounts import create_dpo, current_code
from subjects.models import LivenessChallenge, RightsRequest
from tests.conftest import FACES_DIR
from tests.e2e.conftest import check_accessibility, screenshot
from tests.mail import text_part
from tests.subjects import capture
from tests.subjects.helpers import ingest
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]

CITIZEN = "anne.de.vries@example.org"
DPO = "dpo.e2e@portal.example"
DPO_PASSWORD = "a long pass phrase for the e2e dpo 42"


def link_in(message, fragment: str) -> str:
    return next(u for u in re.findall(r"https?://\S+", text_part(message)) if fragment in u)


def dpo_log_in(page, site: str, secret: str) -> None:
    page.goto(f"{site}/dpo/")
    assert "/dpo/login/" in page.url
    page.fill("input[name=email]", DPO)
    page.fill("input[name=password]", DPO_PASSWORD)
    page.fill("input[name=code]", current_code(secret))
    page.click("form:has(input[name=code]) button[type=submit]")
    page.wait_for_url(f"{site}/dpo/")


def confirmed_on_selfie_page(page, site: str, inbox, address: str,
                             language: str | None = None) -> None:
    """A person asks for a link on the start page, opens it from the e-mail
    and presses its button: ``page`` ends on the selfie page."""
    page.goto(site + "/start/")
    page.fill("input[name=email]", address)
    if language:
        page.select_option("select[name=language]", language)
    page.check("#id_consent")
    page.click("form[method=post] button[type=submit] >> nth=-1")
    page.wait_for_url(re.compile(r"/start/sent/$"))
    [mail] = inbox.wait_for(address)
    page.goto(link_in(mail, "/verify/"))
    page.click("main form[method=post] button[type=submit]")
    page.wait_for_url(re.compile(r"/selfie/$"))


def loaded_widths(page, selector: str) -> list[int]:
    """The widths of the pictures ``selector`` finds, once every one of them
    has loaded or failed (a failed one has width 0)."""
    page.wait_for_function("""selector => Array.from(document.querySelectorAll(selector))
        .every(img => img.complete)""", arg=selector)
    return page.eval_on_selector_all(selector, "imgs => imgs.map(img => img.naturalWidth)")


def wait_for(predicate, timeout: float = 120, what: str = "") -> None:
    wait_until(predicate, timeout=timeout, what=what, interval=0.5)


def reload_when_searched(page):
    """Reload once the searching page's own script has moved on: a reload
    while that script navigates loses the page ("not attached")."""
    page.wait_for_selector("#progress", state="detached", timeout=60_000)
    page.wait_for_load_state()
    page.reload()


def test_the_citizen_in_dutch_and_the_dpo_carry_a_request_through(
    transactional_db, site, browser, inbox
):
    ingest("obama_1.jpg", "obama_4.jpg", "group_obama_biden.jpg", "biden_1.jpg")
    _, enrolment = create_dpo(DPO, password=DPO_PASSWORD)
    citizen = browser.new_context(viewport={"width": 1000, "height": 900}, bypass_csp=True)
    dpo = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page, desk = citizen.new_page(), dpo.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # The landing page, switched to Dutch.
    page.goto(site + "/")
    page.select_option("#language", "nl")
    page.click("form.lang button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "nl"
    # The heading in Dutch, whole (a page left in English fails here).
    assert page.inner_text("h1") == ("Staat uw gezicht in een database met gezichten die van "
                                     "internet zijn verzameld?")
    check_accessibility(page, "home")
    screenshot(page, "01-home-nl")

    # Step 1: address, language, consent.
    page.click("a.button")
    page.fill("input[name=email]", CITIZEN)
    page.select_option("select[name=language]", "nl")
    page.check("#id_consent")
    check_accessibility(page, "start")
    screenshot(page, "02-start-nl")
    page.click("form[method=post] button[type=submit] >> nth=-1")
    page.wait_for_url(re.compile(r"/start/sent/$"))
    check_accessibility(page, "start sent")

    # Step 2: the link from the e-mail, a selfie through the file input.
    [mail] = inbox.wait_for(CITIZEN)
    assert "e-mailadres" in mail["Subject"]
    page.goto(link_in(mail, "/verify/"))
    check_accessibility(page, "verify")
    page.click("main form[method=post] button[type=submit]")
    page.wait_for_url(re.compile(r"/selfie/$"))
    check_accessibility(page, "selfie")
    screenshot(page, "03-selfie-nl")
    page.set_input_files("#id_photo", str(FACES_DIR / "obama_2.jpg"))
    page.click("#selfie-form button[type=submit]")
    request = RightsRequest.objects.get(email=CITIZEN)
    wait_for(lambda: RightsRequest.objects.get(pk=request.pk).state == "identity_review",
             what="the search")
    reload_when_searched(page)
    assert "This is me" not in page.content() and "Dit ben ik" not in page.content()
    check_accessibility(page, "identity review")
    screenshot(page, "04-identity-review-nl")

    # The DPO logs in with the second factor and confirms the requester.
    dpo_log_in(desk, site, enrolment.secret)
    desk.fill("input[name=q]", request.reference)
    desk.click("form:has(input[name=q]) button[type=submit]")
    desk.click(f"a:has-text('{request.reference}')")
    desk.wait_for_url(re.compile(rf"/dpo/requests/{request.reference}/$"))
    check_accessibility(desk, "dpo identity check")
    screenshot(desk, "05-dpo-identity-check")
    desk.click("form.action-confirm_requester button[type=submit]")
    desk.wait_for_load_state()
    wait_for(lambda: RightsRequest.objects.get(pk=request.pk).state == "matches_ready",
             what="the confirmation")

    # Step 3 and 4: the matches, confirmed, access and erasure filed.
    page.reload()
    crops = page.locator("li.match img")
    assert crops.count() == 3
    assert loaded_widths(page, "li.match img") == [160] * 3
    check_accessibility(page, "matches")
    screenshot(page, "06-matches-nl")
    for radio in page.locator("input[type=radio][value=mine]").all():
        radio.check()
    page.check("#kind_access")
    page.check("#kind_erasure")
    page.click("form[action$='/file/'] button[type=submit]")
    # The erasure is shown back before it is sent.
    page.wait_for_selector(".erasure-list")
    assert page.locator(".erasure-list img").count() == 3
    page.click("button[name=checked]")
    page.wait_for_url(re.compile(r"/status/$"))
    assert request.reference in page.content()
    # The withdraw button, in Dutch (the consent text also says "intrekken"):
    # it asks first, on a page of its own.
    assert page.inner_text("a[href$='/withdraw/']") == "Mijn verzoek intrekken"
    check_accessibility(page, "status")
    screenshot(page, "07-status-nl")
    receipt = inbox.wait_for(CITIZEN, subject_contains=request.reference)[0]
    assert request.reference in text_part(receipt)

    # The DPO finds it in the queue, approves, and watches it complete.
    desk.goto(f"{site}/dpo/")
    assert request.reference in desk.content()
    check_accessibility(desk, "dpo queue")
    screenshot(desk, "08-dpo-queue")
    desk.click(f"a:has-text('{request.reference}')")
    desk.click("form.action-approve button[type=submit]")
    # Nothing irreversible in one click: the confirmation says what it does.
    desk.wait_for_selector("#confirm-action")
    desk.click("#confirm-action button[type=submit]")
    desk.wait_for_load_state()
    wait_for(lambda: RightsRequest.objects.get(pk=request.pk).state == "completed",
             what="the jobs")
    desk.reload()
    check_accessibility(desk, "dpo request completed")
    screenshot(desk, "09-dpo-completed")
    with desk.expect_download() as download_info:
        desk.click("a:has-text('Download the access package')")
    archive = zipfile.ZipFile(io.BytesIO(download_info.value.path().read_bytes()))
    data = json.loads(archive.read("data.json"))
    assert data["reference"] == request.reference and data["language"] == "nl"
    assert len(data["photos"]) == 3
    assert all(archive.read(p["file"])[:2] == b"\xff\xd8" for p in data["photos"])
    assert "<html lang=\"nl\">" in archive.read("report.html").decode()

    # The DPO's other pages pass axe-core too.
    for path, name in (("/dpo/figures/", "dpo figures"), ("/dpo/keys/", "dpo api keys")):
        desk.goto(site + path)
        check_accessibility(desk, name)
    screenshot(desk, "09b-dpo-figures")

    # The person's own e-mails tell them, in Dutch.
    done = inbox.wait_for(CITIZEN, subject_contains=request.reference, count=3)
    assert any("gewist" in text_part(m) for m in done)
    page.reload()
    # The finished status page offers the copy of their data.
    assert page.locator("#package-link").count() == 1
    screenshot(page, "10-status-completed-nl")
    check_accessibility(page, "status completed")
    assert errors == []
    citizen.close()
    dpo.close()


#: A camera for the page: getUserMedia answers with the stream of a canvas
#: on which the test plays frames of the sample video. The segment for each
#: pose, in the challenge's order, starts when its instruction appears; while
#: the page waits for the server, the camera holds the next segment's first
#: frame (a person turning to the next pose starts from where they are).
FAKE_CAMERA = """
(() => {
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  const context = canvas.getContext("2d");
  window.__camera = {segments: [], segment: 0, playing: false, start: 0, waitText: ""};
  setInterval(() => {
    const camera = window.__camera;
    const frames = camera.segments[Math.min(camera.segment, camera.segments.length - 1)];
    if (!frames) { return; }
    const index = camera.playing
      ? Math.min(Math.floor((performance.now() - camera.start) / 66.7), frames.length - 1) : 0;
    context.drawImage(frames[index], 0, 0, 640, 480);
  }, 20);
  const watch = () => {
    const prompt = document.getElementById("live-prompt");
    if (!prompt) { return; }
    new MutationObserver(() => {
      const camera = window.__camera;
      const text = prompt.textContent;
      if (!text) { return; }
      if (text === camera.waitText) { camera.segment += 1; camera.playing = false; return; }
      camera.playing = true; camera.start = performance.now();
    }).observe(prompt, {childList: true, characterData: true, subtree: true});
  };
  document.addEventListener("DOMContentLoaded", watch);
  navigator.mediaDevices.getUserMedia = async () => canvas.captureStream(30);
})();
"""


def data_urls(frames: list[bytes]) -> list[str]:
    return ["data:image/jpeg;base64," + base64.b64encode(frame).decode() for frame in frames]


def video_segments(poses: list[str]) -> list[list[str]]:
    """For each pose, in order, the sample video's frames from where its
    burst starts, those with exactly one face to the model. The camera plays
    them at half speed (15 a second): a person turning as fast as the
    performer, but a frame or two of the browser's own delay then misses no
    turn."""
    frames = capture.video_frames()
    return [data_urls([capture.jpeg(frames[n]) for n in capture.one_face_frames(start)])
            for start in (capture.VIDEO_POSES[pose] for pose in poses)]


HELD_UP = {"straight": "obama_1.jpg", "left": "obama_4.jpg", "right": "obama_2.jpg"}


def held_up_segments(poses: list[str]) -> list[list[str]]:
    """For each pose, a photo of one person turning that way, printed and
    held up to the camera by a shaking hand."""
    return [data_urls(capture.photo_held_up(HELD_UP[pose], 18, seed=n))
            for n, pose in enumerate(poses)]


def camera_check(browser, site: str, inbox, address: str, segments_for):
    """A person confirms their address and starts the camera check in
    Chromium, whose camera plays ``segments_for(poses)``; returns once the
    page went on to the matches or showed why not."""
    context = browser.new_context(viewport={"width": 1000, "height": 900}, bypass_csp=True,
                                  locale="en-GB")
    context.add_init_script(FAKE_CAMERA)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    confirmed_on_selfie_page(page, site, inbox, address)
    page.click("a[href$='/live/']")
    page.wait_for_url(re.compile(r"/live/$"))
    check_accessibility(page, "camera check")

    request = RightsRequest.objects.get(email=address)
    poses = LivenessChallenge.objects.filter(request=request).latest("pk").poses
    page.evaluate("""([segments, waitText]) => Promise.all(segments.map(urls =>
        Promise.all(urls.map(url => new Promise(resolve => {
          const image = new Image(); image.onload = () => resolve(image); image.src = url;
        }))))).then(images => { window.__camera.segments = images;
                                window.__camera.waitText = waitText; })""",
                  [segments_for(poses), page.get_attribute("#live-start", "data-wait")])
    page.click("#live-start")

    def finished() -> bool:
        error = page.locator("#live-error")
        return page.url.endswith("/matches/") or bool(error.count() and error.is_visible())

    wait_for(finished, what="the camera check")
    page.wait_for_load_state()
    assert errors == []
    return context, page, request


def test_the_live_camera_check_in_chromium_reaches_the_matches(
    transactional_db, site, browser, inbox
):
    ingest("lin_manuel_miranda_1.png", "obama_1.jpg", "biden_1.jpg")
    context, page, request = camera_check(browser, site, inbox, "camera.person@example.org",
                                          video_segments)
    challenge = LivenessChallenge.objects.filter(request=request).latest("pk")
    assert page.url.endswith("/matches/"), challenge.failure
    wait_for(lambda: RightsRequest.objects.get(pk=request.pk).state == "matches_ready",
             what="the search")
    reload_when_searched(page)
    crops = page.locator("li.match img")
    assert crops.count() == 1
    assert loaded_widths(page, "li.match img") == [160]
    check_accessibility(page, "matches after the camera check")
    # Passed, and its bursts and kept frames gone with the check's end.
    assert challenge.passed is True and not challenge.bursts.exists()
    request.refresh_from_db()
    assert request.selfie_live is True
    context.close()


def puppet_segments(poses: list[str]) -> list[list[str]]:
    """A canvas camera playing a puppet cut out of one press photo, moved
    about and sheared toward each pose as it is asked."""
    return [data_urls(capture.puppet("obama_1.jpg", pose, seed=n, count=18))
            for n, pose in enumerate(poses)]


def test_a_canvas_puppet_from_one_press_photo_in_chromium_fails(
    transactional_db, site, browser, inbox
):
    ingest("obama_1.jpg")
    context, page, request = camera_check(browser, site, inbox, "puppeteer@example.org",
                                          puppet_segments)
    assert "/live/" in page.url
    assert "a copy of a photo that is already published" in page.inner_text("#live-error")
    assert LivenessChallenge.objects.get(request=request).failure == "known_photo"
    request.refresh_from_db()
    assert request.state == "verified" and request.selfie_embedding is None
    context.close()


def test_photos_held_up_to_the_camera_in_chromium_fail(transactional_db, site, browser, inbox):
    context, page, request = camera_check(browser, site, inbox, "holds.photos@example.org",
                                          held_up_segments)
    assert "/live/" in page.url
    assert "as a photo or a screen held up to the camera does" in page.inner_text("#live-error")
    assert LivenessChallenge.objects.get(request=request).failure == "moved_as_one_piece"
    check_accessibility(page, "camera check failed")
    request.refresh_from_db()
    assert request.state == "verified" and request.selfie_embedding is None
    context.close()


@pytest.mark.parametrize("language", ["fr", "de"])
def test_the_citizen_answers_each_face_sees_the_erasure_and_gets_exactly_that_erased(
    transactional_db, site, browser, inbox, language
):
    """In French and in German: every face needs an answer, the erasure is
    shown back before it is sent (and to the DPO before approving), and the
    e-mail counts exactly the faces the person confirmed."""
    from django.utils import translation
    from django.utils.translation import ngettext

    ingest("obama_1.jpg", "obama_4.jpg", "group_obama_biden.jpg", "biden_1.jpg")
    address = f"answers.{language}@example.org"
    dpo_address = f"dpo.{language}@portal.example"
    _, enrolment = create_dpo(dpo_address, password=DPO_PASSWORD)
    citizen = browser.new_context(viewport={"width": 1000, "height": 900}, bypass_csp=True,
                                  locale=language)
    page = citizen.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    confirmed_on_selfie_page(page, site, inbox, address, language)
    assert page.locator("html").get_attribute("lang") == language
    page.set_input_files("#id_photo", str(FACES_DIR / "obama_2.jpg"))
    page.click("#selfie-form button[type=submit]")
    request = RightsRequest.objects.get(email=address)
    wait_for(lambda: RightsRequest.objects.get(pk=request.pk).state == "identity_review",
             what="the search")

    # The DPO confirms the uploaded photo is the requester's.
    desk_context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    desk = desk_context.new_page()
    desk.goto(f"{site}/dpo/")
    desk.fill("input[name=email]", dpo_address)
    desk.fill("input[name=password]", DPO_PASSWORD)
    desk.fill("input[name=code]", current_code(enrolment.secret))
    desk.click("form:has(input[name=code]) button[type=submit]")
    desk.wait_for_url(f"{site}/dpo/")
    desk.goto(f"{site}/dpo/requests/{request.reference}/")
    desk.click("form.action-confirm_requester button[type=submit]")
    desk.wait_for_load_state()
    wait_for(lambda: RightsRequest.objects.get(pk=request.pk).state == "matches_ready",
             what="the confirmation")

    # The matches: a compact grid; each face needs an answer.
    reload_when_searched(page)
    items = page.locator("li.match")
    assert items.count() == 3
    assert page.locator("main").bounding_box()["height"] < 1800
    check_accessibility(page, f"matches {language}")
    screenshot(page, f"11-matches-{language}")
    # Sending with a face unanswered is stopped; nothing is filed.
    page.check("#kind_erasure")
    page.locator("li.match input[value=mine]").first.check()
    page.click("form[action$='/file/'] button[type=submit]")
    assert page.url.endswith("/matches/")
    assert RightsRequest.objects.get(pk=request.pk).state == "matches_ready"
    # "None of these is me", then the two faces seen alone are theirs.
    page.click(".answer-all button[data-answer=not_mine]")
    assert page.locator("li.match input[value=not_mine]:checked").count() == 3
    ids = [int(re.search(r"decision_(\d+)", items.nth(n).locator("input").first
                         .get_attribute("name")).group(1)) for n in range(3)]
    from subjects.models import Match
    solo = [pk for pk in ids
            if Match.objects.get(pk=pk).face.photo.file_name != "group_obama_biden.jpg"]
    assert len(solo) == 2
    for pk in solo:
        page.check(f"#mine_{pk}")
    page.click("form[action$='/file/'] button[type=submit]")

    # Shown back before it is sent: the two faces to be erased.
    page.wait_for_selector(".erasure-list")
    erased_crops = page.locator(".erasure-list img")
    assert erased_crops.count() == 2
    assert loaded_widths(page, ".erasure-list img") == [160, 160]
    assert RightsRequest.objects.get(pk=request.pk).state == "matches_ready"
    check_accessibility(page, f"check request {language}")
    screenshot(page, f"12-check-erasure-{language}")
    page.click("button[name=checked]")
    page.wait_for_url(re.compile(r"/status/$"))

    # The DPO sees the same two faces above Approve.
    desk.goto(f"{site}/dpo/requests/{request.reference}/")
    assert desk.locator("#approval-summary img").count() == 2
    check_accessibility(desk, "dpo request before approval")
    screenshot(desk, f"13-dpo-approval-{language}")
    desk.click("form.action-approve button[type=submit]")
    desk.wait_for_selector("#confirm-action")
    assert desk.locator("#confirm-action img").count() == 2
    desk.click("#confirm-action button[type=submit]")
    desk.wait_for_load_state()
    wait_for(lambda: RightsRequest.objects.get(pk=request.pk).state == "completed",
             what="the erasure")

    done = inbox.wait_for(address, subject_contains=request.reference, count=2)
    bodies = [text_part(m) for m in done]
    with translation.override(language):
        erased = ngettext("We have erased %(counter)s face of yours from our database.",
                          "We have erased %(counter)s faces of yours from our database.",
                          2) % {"counter": 2}
    assert erased != "We have erased 2 faces of yours from our database."
    assert any(erased in body for body in bodies), bodies
    assert errors == []
    citizen.close()
    desk_context.close()


#: The same camera, whose permission prompt the person answers only when the
#: test says so (``window.__release()``).
HELD_CAMERA = FAKE_CAMERA.replace(
    "navigator.mediaDevices.getUserMedia = async () => canvas.captureStream(30);",
    "navigator.mediaDevices.getUserMedia = () => new Promise(resolve => {"
    " window.__release = () => { window.__released = performance.now();"
    " resolve(canvas.captureStream(30)); }; });")

#: What the camera page shows at each change of its instruction, kept in
#: the tab's session storage across the page change at the end.
LIVE_LOG = """
document.addEventListener("DOMContentLoaded", () => {
  const prompt = document.getElementById("live-prompt");
  if (!prompt) { return; }
  new MutationObserver(() => {
    const visible = Array.from(document.querySelectorAll("main button, main a.button"))
      .filter(b => b.offsetParent !== null);
    const log = JSON.parse(sessionStorage.getItem("live-log") || "[]");
    log.push({prompt: prompt.textContent, buttons: visible.length,
              current: document.querySelectorAll("#live-steps li.current").length,
              recorded: Array.from(document.querySelectorAll("#live-steps li.done"))
                .filter(li => li.textContent.includes("✓ recorded")).length});
    sessionStorage.setItem("live-log", JSON.stringify(log));
  }).observe(prompt, {childList: true, characterData: true, subtree: true});
});
"""

VISIBLE_BUTTONS = """() => Array.from(document.querySelectorAll(
  'main button, main a.button')).filter(b => b.offsetParent !== null
  && getComputedStyle(b).visibility !== 'hidden').map(b => b.id || b.textContent.trim())"""


def test_the_camera_page_shows_one_button_at_a_time_and_takes_nothing_before_the_camera_runs(
    transactional_db, site, browser, inbox
):
    assert "__release" in HELD_CAMERA
    ingest("lin_manuel_miranda_1.png", "obama_1.jpg")
    address = "one.button@example.org"
    context = browser.new_context(viewport={"width": 1000, "height": 900}, bypass_csp=True,
                                  locale="en-GB")
    context.add_init_script(HELD_CAMERA)
    context.add_init_script(LIVE_LOG)
    page = context.new_page()
    errors, steps = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda r: steps.append((time.monotonic(), r.post_data_buffer or b""))
            if r.url.endswith("/live/step/") else None)
    confirmed_on_selfie_page(page, site, inbox, address)
    page.click("a[href$='/live/']")
    page.wait_for_url(re.compile(r"/live/$"))

    # Before the camera: one button, "Start"; "Try again" is not shown.
    assert page.evaluate(VISIBLE_BUTTONS) == ["live-start"]
    screenshot(page, "14-camera-before-start")
    request = RightsRequest.objects.get(email=address)
    poses = LivenessChallenge.objects.filter(request=request).latest("pk").poses
    page.evaluate("""([segments, waitText]) => Promise.all(segments.map(urls =>
        Promise.all(urls.map(url => new Promise(resolve => {
          const image = new Image(); image.onload = () => resolve(image); image.src = url;
        }))))).then(images => { window.__camera.segments = images;
                                window.__camera.waitText = waitText; })""",
                  [video_segments(poses), page.get_attribute("#live-start", "data-wait")])

    # Pressed while the browser still asks for the camera: nothing is sent.
    page.click("#live-start")
    assert page.inner_text("#live-start") == "Starting the camera…"
    assert page.is_disabled("#live-start") and page.inner_text("#live-prompt") == ""
    screenshot(page, "15-camera-starting")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert steps == [], "a step was sent before the camera ran"
        page.wait_for_timeout(100)
    released = time.monotonic()
    page.evaluate("window.__release()")

    # While the check runs: no button at all; the pose to take now stands out,
    # and each pose taken says it was recorded. The page itself notes what it
    # shows at each change (the test does not interrupt the bursts).
    def finished() -> bool:
        return page.url.endswith("/matches/") or page.locator("#live-error").is_visible()

    wait_for(finished, what="the camera check")
    page.wait_for_load_state()
    seen = json.loads(page.evaluate("sessionStorage.getItem('live-log') || '[]'"))
    challenge = LivenessChallenge.objects.filter(request=request).latest("pk")
    assert page.url.endswith("/matches/"), (challenge.failure, page.inner_text("#live-error"))
    assert steps and all(at >= released for at, _ in steps)
    assert len(steps) == 1 + len(poses)
    during = [entry for entry in seen if entry["prompt"]]
    assert during and all(entry["buttons"] == 0 for entry in during), seen
    assert all(entry["current"] <= 1 for entry in during), seen
    poses_shown = [entry for entry in during if entry["current"] == 1]
    assert len(poses_shown) == len(poses), seen
    # Each pose says it was recorded once the server accepted its burst (the
    # last one with the result, as the page moves on to the matches).
    assert max(entry["recorded"] for entry in during) >= len(poses) - 1, seen
    assert challenge.passed is True, challenge.failure
    assert errors == []
    context.close()
