"""Replays of a passed capture, disguised: shifted a few pixels, rescaled,
turned a little with a zoom, mirrored with the left and right prompts
swapped, or saved again. The whole-frame fingerprint misses all but the
last (its 16x16 brightness steps move with a shift of a few pixels; see
the first test); the fingerprint of the face aligned by its landmarks
catches every one, through the queued path of the page."""

import pytest
from django.test import Client

from search.imaging import load_image
from subjects.core import tokens
from subjects.models import FrameFingerprint
from subjects.person.camera_check.fingerprints import bits_apart, dhash
from subjects.person.camera_check.rules.replay import REPLAY_MAX_BITS
from tests.subjects import capture
from tests.subjects.helpers import live_capture, verified_in

pytestmark = pytest.mark.django_db

KINDS = ("shifted", "rescaled", "rotated", "mirrored", "re-encoded")
#: A mirrored left turn is a right turn: the replayer swaps the prompts.
SWAPPED = {"straight": "straight", "left": "right", "right": "left"}


@pytest.mark.parametrize("kind", ["shifted", "rescaled", "rotated", "mirrored"])
def test_the_whole_frame_fingerprint_alone_misses_a_disguised_replay(kind):
    """The attack as it passed before: most frames of a disguised replay are
    farther from their original than the whole-frame rule's tolerance."""
    frames = capture.passing_bursts()["straight"]
    moved = capture.replayed(frames, kind)
    apart = [bits_apart(dhash(load_image(a)), dhash(load_image(b)))
             for a, b in zip(frames, moved, strict=True)]
    assert sum(bits <= REPLAY_MAX_BITS for bits in apart) * 2 < len(apart), apart


@pytest.mark.parametrize("kind", KINDS)
def test_a_passed_capture_replayed_disguised_fails_as_replayed(client, kind):
    bursts = capture.passing_bursts()
    first = verified_in(client, f"genuine.{kind}@example.org")
    response = live_capture(client, tokens.access_token(first), bursts)
    assert response.status_code == 200 and response.json()["done"] is True, response.content

    other = Client()
    replayer = verified_in(other, f"replayer.{kind}@example.org")
    disguised = {SWAPPED[pose] if kind == "mirrored" else pose: capture.replayed(frames, kind)
                 for pose, frames in bursts.items()}
    response = live_capture(other, tokens.access_token(replayer), disguised)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "replayed_frames"
    assert "already sent in an earlier check" in response.json()["error"]
    replayer.refresh_from_db()
    assert replayer.state == "verified" and replayer.selfie_embedding is None
    # The refused frames are fingerprinted too, their faces included when
    # the faces were looked at (a frame saved again is caught before, by
    # its whole-frame fingerprint).
    refused = FrameFingerprint.objects.filter(challenge=replayer.challenges.get(),
                                              accepted=False)
    assert refused.count() == 6
    assert refused.filter(face_hash__isnull=False).count() == (0 if kind == "re-encoded" else 6)
