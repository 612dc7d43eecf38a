"""What the camera check says is said in the page's language: the worker
records a failure's code only, and the page, the report and the status
page turn it into a sentence; no rule code ever reaches the person."""

import io

import numpy as np
import pytest
from django.utils import translation
from PIL import Image

from subjects.core import tokens
from subjects.jobs.access_package import reason_for_person
from subjects.models import LivenessChallenge
from subjects.person.camera_check.challenge import challenge_token
from tests.subjects.helpers import live_capture, verified_in

pytestmark = pytest.mark.django_db

FRENCH_NO_FACE = ("Sur l’une des images de la caméra, nous n’avons pas trouvé de visage. Gardez "
                  "tout votre visage dans le champ, avec une bonne lumière, et recommencez la "
                  "vérification par caméra.")
GERMAN_NO_FACE = ("Auf einem der Kamerabilder konnten wir kein Gesicht finden. Bitte halten Sie "
                  "Ihr ganzes Gesicht bei gutem Licht im Bild und starten Sie die Kameraprüfung "
                  "erneut.")


def empty_room(seed: int) -> list[bytes]:
    """Six frames of a camera pointed at a wall: no face in any."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(6):
        pixels = (rng.normal(128, 12, size=(480, 640, 3))).clip(0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG")
        frames.append(buffer.getvalue())
    return frames


def test_a_french_camera_check_failure_is_said_in_french_and_again_in_german(client):
    request = verified_in(client, "camille@example.org", language="fr")
    token = tokens.access_token(request)
    client.cookies["django_language"] = "fr"
    room = empty_room(1)
    response = live_capture(client, token, dict.fromkeys(["straight", "left", "right"], room))
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == FRENCH_NO_FACE
    challenge = LivenessChallenge.objects.get(request=request)
    # The worker kept the code, never a sentence in some language.
    assert challenge.failure == "frame_no_face" and challenge.failure_message == ""

    # The same failure, asked for from a page in German, is said in German.
    client.cookies["django_language"] = "de"
    again = client.post(f"/r/{token}/live/step/0/", {"challenge": challenge_token(challenge)})
    assert again.status_code == 400
    assert again.json()["error"] == GERMAN_NO_FACE


def test_the_report_never_shows_a_rule_code():
    with translation.override("fr"):
        assert reason_for_person({"action": "liveness_failed", "reason": "frame_no_face"}) \
            == FRENCH_NO_FACE
        said = reason_for_person({"action": "liveness_failed", "reason": "moved_as_one_piece"})
        assert "moved_as_one_piece" not in said and said
        # Codes and notes the portal keeps for itself are left out of the report.
        assert reason_for_person({"action": "selfie_rejected", "reason": "no_face"}) == ""
        assert reason_for_person({"action": "job_failed", "reason": "disk full"}) == ""
        # The DPO's own sentences are the person's to read.
        assert reason_for_person({"action": "extended", "reason": "Beaucoup de photos"}) \
            == "Beaucoup de photos"
