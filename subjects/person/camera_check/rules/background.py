"""In a turn's burst the face moves against its surroundings."""

from __future__ import annotations

import cv2
import numpy as np

from search.backends import DetectedFace
from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.messages import LivenessFailed

#: How far the face's landmarks moved against the motion of their
#: surroundings (in inter-eye distances, summed over a burst), in a turn's
#: burst. The video's bursts: 1.12-4.08; photos held up and shaken, zoomed
#: and tilted: 0.044-0.060; a still: 0. A turn of ``turns.TURN_SEEN_MIN`` alone moves
#: the nose about that far against the head's outline.
RELATIVE_MOTION_MIN = 0.10


def check_moves_against_background(motion: float) -> None:
    """In a turn's burst the face moves on its own, against its surroundings
    (:func:`relative_motion`): a photo or screen held up to the camera,
    shaken or zoomed, moves as one piece with everything on it."""
    if motion < RELATIVE_MOTION_MIN:
        raise LivenessFailed("moved_as_one_piece")


def relative_motion(frames: list[Frame]) -> float:
    """How far the face's landmarks moved against their surroundings over a
    burst, in inter-eye distances: between consecutive frames, the motion of
    the picture around the face (tracked corners in a ring around it,
    fitted with a similarity transform) predicts where the eyes and nose
    would be if the face were painted on it; this adds up how far they are
    from there. A photo or a screen moves as one piece with the face on it:
    near 0."""
    total = 0.0
    for a, b in zip(frames, frames[1:], strict=False):
        grey_a = cv2.cvtColor(np.ascontiguousarray(a.image), cv2.COLOR_RGB2GRAY)
        grey_b = cv2.cvtColor(np.ascontiguousarray(b.image), cv2.COLOR_RGB2GRAY)
        if grey_a.shape != grey_b.shape:
            continue
        points_a = np.array(a.face.landmarks[:3], dtype=np.float32)
        points_b = np.array(b.face.landmarks[:3], dtype=np.float32)
        eyes = float(np.hypot(*(points_a[1] - points_a[0]))) or 1.0
        corners = cv2.goodFeaturesToTrack(grey_a, 200, 0.01, 5, mask=_ring(grey_a, a.face))
        if corners is None or len(corners) < 8:
            continue
        moved, status, _err = cv2.calcOpticalFlowPyrLK(grey_a, grey_b, corners, None,
                                                       winSize=(15, 15), maxLevel=2)
        found = status.ravel() == 1
        if found.sum() < 8:
            continue
        matrix, _inliers = cv2.estimateAffinePartial2D(
            corners.reshape(-1, 2)[found], moved.reshape(-1, 2)[found], method=cv2.RANSAC,
            ransacReprojThreshold=1.0)
        if matrix is None:
            continue
        predicted = points_a @ matrix[:, :2].T + matrix[:, 2]
        total += float(np.mean(np.linalg.norm(predicted - points_b, axis=1))) / eyes
    return total


def _ring(grey: np.ndarray, face: DetectedFace) -> np.ndarray:
    """The face's surroundings: a square of 2.6 face widths around its
    centre, without the face itself."""
    mask = np.zeros(grey.shape, dtype=np.uint8)
    (cx, cy), width = face.center, face.box[2]
    outer, inner = 1.3 * width, 0.75 * width
    cv2.rectangle(mask, (int(cx - outer), int(cy - outer)), (int(cx + outer), int(cy + outer)),
                  255, -1)
    cv2.rectangle(mask, (int(cx - inner), int(cy - inner)),
                  (int(cx + inner), int(cy + 1.2 * inner)), 0, -1)
    return mask
