"""A puppet cut out of one press photo that the index scraped, moved,
scaled, tilted and sheared toward each turn, is refused as a known photo
(``known_photo``) at its first burst, whatever the pose: its face, aligned
by a full affine map of eyes and nose, is the scraped picture again. The
sample video of a performer whose press photo is in the index still
passes."""

import pytest

from subjects.core import tokens
from subjects.person.camera_check.challenge import POSES
from tests.subjects import capture
from tests.subjects.helpers import ingest, live_capture, verified_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["obama_1.jpg", "kit_harington_2.jpg", "biden_1.jpg"])
def test_a_puppet_made_from_one_scraped_press_photo_fails_as_a_known_photo(client, name):
    ingest(name)
    request = verified_in(client, f"puppeteer.{name.split('.')[0]}@example.org")
    response = live_capture(client, tokens.access_token(request), {
        pose: capture.puppet(name, pose, seed=n) for n, pose in enumerate(POSES)})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "known_photo"
    assert "a copy of a photo that is already published" in response.json()["error"]
    request.refresh_from_db()
    assert request.state == "verified" and request.selfie_embedding is None
    assert request.events.filter(action="liveness_failed", reason="known_photo").exists()


def test_the_sample_video_passes_with_the_performers_press_photo_in_the_index(client):
    ingest("lin_manuel_miranda_1.png", "obama_1.jpg")
    request = verified_in(client, "the.performer@example.org")
    response = live_capture(client, tokens.access_token(request))
    assert response.status_code == 200 and response.json()["done"] is True, response.content
