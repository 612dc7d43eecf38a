"""A burst is exactly the page's number of JPEG frames, each at most about
2 megapixels: checked in the web process from the files' headers, before
anything is stored; a burst that breaks the limits ends the check with its
reason, and no file of it is left."""

import io

import cv2
import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from subjects.core import tokens
from subjects.models import LivenessChallenge
from subjects.person.camera_check.frames import BURST_FRAMES
from tests.subjects import capture
from tests.subjects.helpers import challenge_of, send_burst, verified_in
from tests.waiting import BURST_SECONDS, let_time_pass

pytestmark = pytest.mark.django_db


def as_png(data: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buffer, "PNG")
    return buffer.getvalue()


def huge(data: bytes) -> bytes:
    """A frame blown up to 2560x1440 (3.7 megapixels), as JPEG."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return capture.jpeg(cv2.resize(image, (2560, 1440)), 70)


def frames_of(kind: str) -> list[bytes]:
    frames = capture.passing_bursts()["straight"]
    if kind == "four frames":
        return frames[:4]
    if kind == "seven frames":
        return [*frames, frames[-1]]
    if kind == "png":
        return [as_png(frames[0]), *frames[1:]]
    if kind == "jpeg header, png body":
        return [b"\xff\xd8\xff" + as_png(frames[0]), *frames[1:]]
    return [*frames[:-1], huge(frames[-1])]


@pytest.mark.parametrize(("kind", "code"), [
    ("four frames", "frames_missing"),
    ("seven frames", "frames_missing"),
    ("png", "frame_not_jpeg"),
    ("jpeg header, png body", "frame_not_jpeg"),
    ("3.7 megapixels", "frame_too_large"),
])
def test_a_burst_outside_the_limits_is_refused_before_anything_is_stored(client, kind, code):
    assert BURST_FRAMES == 6
    request = verified_in(client, "limits@example.org")
    token = tokens.access_token(request)
    challenge = challenge_of(client.get(f"/r/{token}/live/").content.decode())
    client.post(f"/r/{token}/live/step/", {"challenge": challenge, "step": "begin"})
    let_time_pass(BURST_SECONDS, why="the server refuses a burst sent sooner")
    response = send_burst(client, token, challenge, 0, frames_of(kind))
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    stored = LivenessChallenge.objects.get(request=request)
    assert stored.passed is False and stored.failure == code and stored.checking_files == []
    assert not stored.bursts.exists()
    assert (not default_storage.exists("liveness/queued")
            or default_storage.listdir("liveness/queued")[1] == [])
