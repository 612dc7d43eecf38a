"""The one-face rule of the camera check on the real video: a face the model
loses for a frame while the frames beside it hold it (closer to the camera,
turning away) is kept where their face is; a frame with no face at all, or
with only a face elsewhere, still fails."""

import cv2
import numpy as np
import pytest

from search.backends import get_backend
from search.imaging import load_image
from subjects.core import tokens
from subjects.person.camera_check.measures import chosen_frame
from subjects.person.camera_check.messages import LivenessFailed
from subjects.person.camera_check.rules.one_face import check_one_face_each, near_neighbour
from tests.subjects import capture
from tests.subjects.helpers import live_capture, verified_in

pytestmark = pytest.mark.django_db


def closer(frames: list[bytes], factor: float = 1.2) -> list[bytes]:
    """The burst as a webcam would give it with the person a little closer."""
    out = []
    for data in frames:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0, factor)
        out.append(capture.jpeg(cv2.warpAffine(image, matrix, (width, height),
                                               borderMode=cv2.BORDER_REPLICATE)))
    return out


def lost_frame(frames: list[bytes]) -> int:
    """The one frame of the burst in which the model finds no face at its
    usual bar, as the rule looks (the test depends on there being exactly
    one)."""
    lost = [n for n, data in enumerate(frames) if not get_backend().locate(load_image(data))]
    assert len(lost) == 1, lost
    return lost[0]


def test_a_face_lost_for_one_frame_is_kept_where_its_neighbours_face_is():
    frames = closer(capture.video_burst(capture.VIDEO_POSES["right"]))
    lost = lost_frame(frames)
    checked = check_one_face_each(frames, [load_image(data) for data in frames])
    assert [f.doubtful for f in checked] == [n == lost for n in range(6)]
    before, found = checked[lost - 1].face.box, checked[lost].face.box
    assert abs(found[0] - before[0]) < before[2] / 2
    # The pose's chosen frame is never the doubtful one, even where it
    # would show the turn best.
    turns = [f.face.head_turn() for f in checked]
    turns[lost] = -1.0
    assert chosen_frame(turns, "right", [f.doubtful for f in checked]) != lost


def test_a_capture_from_closer_to_the_camera_passes(client):
    request = verified_in(client, "closer.person@example.org")
    bursts = {pose: closer(frames) for pose, frames in capture.passing_bursts().items()}
    response = live_capture(client, tokens.access_token(request), bursts)
    assert response.status_code == 200, response.content
    assert response.json()["done"] is True
    assert request.challenges.get().passed is True


def test_a_frame_without_a_face_still_fails():
    frames = capture.video_burst(capture.VIDEO_POSES["left"])
    frames[3] = capture.jpeg(capture.room())
    with pytest.raises(LivenessFailed, match="frame_no_face"):
        check_one_face_each(frames, [load_image(data) for data in frames])


def test_a_doubtful_face_away_from_the_neighbours_face_is_not_kept():
    frames = closer(capture.video_burst(capture.VIDEO_POSES["right"]))
    lost = lost_frame(frames)
    image = load_image(frames[lost])
    backend = get_backend()
    sure = [None] * len(frames)
    sure[lost - 1] = backend.locate(load_image(frames[lost - 1]))[0]
    assert len(near_neighbour(backend.detect_doubtful(image), sure, lost)) == 1
    # The other frames mirrored: their face is on the other side of the
    # picture, and the lost frame's doubtful face is not kept.
    images = [np.ascontiguousarray(load_image(data)[:, ::-1]) for data in frames]
    images[lost] = image
    assert all(len(backend.locate(i)) == 1 for n, i in enumerate(images) if n != lost)
    with pytest.raises(LivenessFailed, match="frame_no_face"):
        check_one_face_each([capture.jpeg(cv2.cvtColor(i, cv2.COLOR_RGB2BGR)) for i in images],
                            images)
