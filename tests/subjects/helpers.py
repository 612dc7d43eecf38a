"""Shared steps of the citizen's journey, as a person takes them."""

from __future__ import annotations

import re
import time

from django.core.files.uploadedfile import SimpleUploadedFile

from search.ingestion import ingest_image
from subjects.models import RightsRequest
from tests.conftest import FACES_DIR

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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request.refresh_from_db()
        if request.state == state:
            return request
        time.sleep(0.2)
    raise AssertionError(f"{request.reference} stayed {request.state}, expected {state}")


#: One person looking straight and turning either way (see the faces README).
OBAMA_POSES = {"straight": "obama_1.jpg", "left": "obama_4.jpg", "right": "obama_2.jpg"}


def challenge_of(page: str) -> tuple[str, list[str]]:
    challenge = re.search(r'name="challenge" value="([^"]+)"', page).group(1)
    poses = re.search(r'data-poses="([^"]+)"', page).group(1).split(",")
    return challenge, poses


def live_capture(client, token: str, frames: dict[str, str] | None = None, **post_extra):
    """Take the camera check as the page's script does: one frame per asked
    pose, in the asked order. ``frames`` maps poses to photo files."""
    frames = frames or OBAMA_POSES
    page = client.get(f"/r/{token}/live/").content.decode()
    challenge, poses = challenge_of(page)
    data = {"challenge": challenge}
    for number, pose in enumerate(poses):
        data[f"frame_{number}"] = upload(frames[pose])
    return client.post(f"/r/{token}/live/", data, **post_extra)
