"""No frame of the capture is a copy, mirror, crop or rescale of another."""

from __future__ import annotations

import cv2
import numpy as np

from search.backends import DetectedFace
from subjects.person.camera_check.messages import LivenessFailed

#: Aligned face pixels this alike are the same picture (copy, crop, rescale,
#: mirror): different live frames measured 0.12-0.66 on the test photos,
#: copies and mirrors 0.93-0.99.
SAME_PICTURE_MIN = 0.85


def aligned_face(image: np.ndarray, face: DetectedFace, *, mirror: bool = False) -> np.ndarray:
    """The face warped by its eyes and nose onto a 64x64 grey canvas,
    normalised, so that the same picture gives the same pixels whatever its
    crop or scale."""
    points = np.array(face.landmarks[:3], dtype=np.float32)
    if mirror:
        image = image[:, ::-1]
        width = image.shape[1]
        left, right, nose = points
        points = np.array([[width - 1 - right[0], right[1]], [width - 1 - left[0], left[1]],
                           [width - 1 - nose[0], nose[1]]], dtype=np.float32)
    target = np.array([[22, 26], [42, 26], [32, 40]], dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(points, target)
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    warped = cv2.warpAffine(grey, matrix, (64, 64)).astype(np.float64)
    return (warped - warped.mean()) / (warped.std() + 1e-6)


def check_no_copies(frames: list[tuple[np.ndarray, DetectedFace]]) -> None:
    """No frame is a copy, mirror, crop or rescale of another."""
    straight = [aligned_face(image, face) for image, face in frames]
    mirrored = [aligned_face(image, face, mirror=True) for image, face in frames]
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            if frames[i][0].shape == frames[j][0].shape and np.array_equal(frames[i][0],
                                                                           frames[j][0]):
                raise LivenessFailed("repeated_frame")
            same = float((straight[i] * straight[j]).mean())
            mirror = float((mirrored[i] * straight[j]).mean())
            if mirror >= SAME_PICTURE_MIN and mirror > same:
                raise LivenessFailed("mirrored_frame")
            if same >= SAME_PICTURE_MIN:
                raise LivenessFailed("resized_frame")
