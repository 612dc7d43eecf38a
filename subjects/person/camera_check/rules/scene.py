"""The scene around the face stays the same from pose to pose."""

from __future__ import annotations

import cv2
import numpy as np

from subjects.person.camera_check.messages import LivenessFailed

#: Bhattacharyya distance of the colour histograms of the scene around the
#: face, pose to pose. The video (one stage, its camera panning, frames up
#: to 4 s apart): 0.20-0.34; the three test photos held up in one room:
#: 0.46-0.50; the photos themselves: 0.63-0.66.
SCENE_MAX = 0.40


def scene_histogram(image: np.ndarray, face_box) -> np.ndarray:
    """Hue and saturation of the picture without the person (the face and
    everything below it)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    mask = np.full(image.shape[:2], 255, dtype=np.uint8)
    left, top, width, height = face_box
    cv2.rectangle(mask, (int(left - width / 4), int(top - height / 4)),
                  (int(left + width * 1.25), image.shape[0]), 0, -1)
    histogram = cv2.calcHist([hsv], [0, 1], mask, [30, 32], [0, 180, 0, 256])
    return cv2.normalize(histogram, histogram).flatten()


def check_scene_kept(histograms: list[np.ndarray]) -> None:
    """The scene around the face stays the same from pose to pose: one
    person turning in one place, not three pictures."""
    for i, a in enumerate(histograms):
        for b in histograms[i + 1:]:
            if cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) > SCENE_MAX:
                raise LivenessFailed("scene_changed")
