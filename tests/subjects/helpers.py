"""Shared steps of the citizen's journey, as a person takes them."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from search.ingestion import ingest_image
from subjects.models import RightsRequest
from tests.conftest import FACES_DIR
from tests.waiting import let_time_pass, wait_until

LINK = re.compile(r"https?://[^\s\"<>]+")


def ingest(*names: str, site: str = "crawl.example") -> None:
    for name in names:
        ingest_image((FACES_DIR / name).read_bytes(), file_name=name, site=site,
                     source_url=f"https://{site}/{name}", model="dlib")


def upload(name: str, data: bytes | None = None, content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, data if data is not None else (FACES_DIR / name).read_bytes(),
                              content_type=content_type)


def links_in(text: str) -> list[str]:
    return LINK.findall(text)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def wait_for_state(request: RightsRequest, state: str, timeout: float = 90) -> RightsRequest:
    def reached() -> bool:
        request.refresh_from_db()
        return request.state == state

    wait_until(reached, timeout=timeout, interval=0.2,
               what=lambda: f"{request.reference} going from {request.state} to {state}")
    return request


def confirm_in(client, request: RightsRequest) -> RightsRequest:
    """Confirm the request's address in ``client``'s browser, as a person
    does: open the e-mailed link and press its button. The browser then
    holds the request's binding cookie."""
    from subjects.core import tokens

    token = tokens.verification_token(request)
    response = client.post(f"/verify/{token}/")
    assert response.status_code == 302, response.status_code
    request.refresh_from_db()
    return request


def confirmed_again_in(client, request: RightsRequest) -> RightsRequest:
    """Open an existing request (closed ones too) in ``client``'s browser as
    a person on another device does: ask for a new link, then confirm it."""
    from subjects.core import tokens

    client.post(f"/r/{tokens.access_token(request)}/confirm/")
    request.refresh_from_db()
    return confirm_in(client, request)


def verified_in(client, email: str = "person@example.org", language: str = "en"
                ) -> RightsRequest:
    """A new request whose address ``client``'s browser has confirmed."""
    from subjects.person import intake

    return confirm_in(client, intake.start_request(email=email, language=language))


def live_capture(client, token: str, bursts: dict | None = None, *, answer_after: float = 0.85):
    """Take the camera check as the page's script does: begin, then for each
    pose the server reveals, wait about as long as a burst takes, send the
    burst for it and ask for the answer until it comes. ``bursts`` maps
    poses to lists of frames (bytes) or to a function of the pose's step
    giving them. Returns the last response."""
    from tests.subjects.capture import passing_bursts

    bursts = bursts or passing_bursts()
    page = client.get(f"/r/{token}/live/").content.decode()
    challenge = challenge_of(page)
    response = client.post(f"/r/{token}/live/step/", {"challenge": challenge, "step": "begin"})
    while response.status_code == 200 and "pose" in response.json():
        answer = response.json()
        frames = bursts[answer["pose"]]
        frames = frames(answer["step"]) if callable(frames) else frames
        let_time_pass(answer_after, why="the server refuses a burst sent sooner")
        response = send_burst(client, token, challenge, answer["step"], frames)
    return response


def send_burst(client, token: str, challenge: str, step, frames: list[bytes]):
    """Send one burst and ask for its answer until it is there."""
    response = client.post(f"/r/{token}/live/step/", {
        "challenge": challenge, "step": str(step),
        "frames": [upload(f"frame{i}.jpg", data) for i, data in enumerate(frames)]})
    return burst_answer(client, challenge, response)


def burst_answer(client, challenge: str, response, *, timeout: float = 120):
    """Ask for a queued burst's answer, as the page does, until it comes.
    In a test whose rows are not committed (no worker can see them), the
    search worker's function runs here, on the burst that waits."""
    from django.db import connection

    from subjects.models import LivenessChallenge
    from subjects.person import camera_check

    if response.status_code != 202:
        return response
    answer_at = response.json().get("answer")

    def answered():
        if connection.in_atomic_block:
            for pk, step in LivenessChallenge.objects.filter(
                    checking_step__isnull=False).values_list("pk", "checking_step"):
                camera_check.check_queued_burst(pk, step)
        asked = client.post(answer_at, {"challenge": challenge})
        return asked if asked.status_code != 202 else None

    return wait_until(answered, timeout=timeout, interval=0.2, what="an answer to the burst")


def challenge_of(page: str) -> str:
    return re.search(r'name="challenge" value="([^"]+)"', page).group(1)


def bound_request(client, state: str, email: str, language: str = "en", **fields):
    """A request whose address ``client``'s browser confirmed, moved to ``state``."""
    from django.utils import timezone

    request = verified_in(client, email, language)
    RightsRequest.objects.filter(pk=request.pk).update(
        state=state, received_at=timezone.now() if state != "matches_ready" else None,
        **{"access": True, **fields})
    request.refresh_from_db()
    request.save(update_fields=["due_on"])
    return request
