"""No frame's face is a copy of a face in the scraped index: a genuine
selfie is never the same picture as a scraped one, while a puppet cut out
of a press photo (moved, scaled, turned, sheared or squeezed in 2-D) is.

"Copy" is judged on the face aligned by a full affine map of its eyes and
nose onto a square (:func:`affine_face`), which undoes any 2-D warp of the
picture, and compared pixel by pixel (normalised correlation), mirror image
included; not on the embedding distance alone (two different photos of one
person in the sample set are only 0.053 apart in dlib's space)."""

from __future__ import annotations

import cv2
import numpy as np
from django.core.files.storage import default_storage

from search.backends import DetectedFace
from search.imaging import load_image
from search.matching import find_candidates
from search.models import Face
from subjects.person.camera_check.messages import LivenessFailed

#: Normalised correlation of two affine-aligned faces at or above which the
#: live face is a copy of the scraped one. Measured 2026-12-07 with
#: ``bench/known_photo.py`` (dlib): different photos of one person (28
#: pairs of five people) 0.010-0.646, median 0.421; frames of the sample
#: video against its performer's press photo 0.092-0.532; copies (a press
#: photo held up and shaken, or cut out and sheared 12 % toward a turn; 84
#: frames of 14 photos) 0.830-0.998, median 0.971. The threshold sits
#: between 0.646 and 0.830.
COPY_MIN = 0.74
#: At or above this, the DPO's page flags the live face as looking like a
#: copy of a scraped photo (the highest score of two different photos of one
#: person measured 0.646): the DPO looks before any match is shown.
COPY_REVIEW = 0.60
#: Scraped faces compared, nearest by embedding first.
CANDIDATES = 3

_TARGET = np.array([[22, 24], [42, 24], [32, 38]], dtype=np.float32)


def affine_face(image: np.ndarray, landmarks, *, mirror: bool = False) -> np.ndarray:
    """The face mapped by a full affine map of its eyes and nose onto a
    64x64 grey square, normalised (a 2-D warp of the picture gives the same
    pixels); ``mirror``: the picture's mirror image, aligned the same way."""
    left, right, nose = (np.asarray(p, dtype=np.float32) for p in landmarks[:3])
    if mirror:
        image = image[:, ::-1]
        width = image.shape[1] - 1
        left, right = (np.array([width - right[0], right[1]], np.float32),
                       np.array([width - left[0], left[1]], np.float32))
        nose = np.array([width - nose[0], nose[1]], np.float32)
    matrix = cv2.getAffineTransform(np.array([left, right, nose]), _TARGET)
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    warped = cv2.warpAffine(grey, matrix, (64, 64), flags=cv2.INTER_AREA).astype(np.float64)
    inner = warped[8:60, 10:54]
    return (inner - inner.mean()) / (inner.std() + 1e-6)


def copy_score(live: np.ndarray, face: DetectedFace, scraped: np.ndarray, landmarks) -> float:
    """How alike the live face and a scraped face are as pictures, the
    live one's mirror image included (1.0: the same picture)."""
    other = affine_face(scraped, landmarks)
    return max(float((affine_face(live, face.landmarks, mirror=m) * other).mean())
               for m in (False, True))


def nearest_scraped(image: np.ndarray, face: DetectedFace) -> tuple[float | None, float]:
    """The embedding distance to the nearest scraped face (``None``: none
    within the possible threshold) and the highest copy score among the
    ``CANDIDATES`` nearest."""
    candidates = find_candidates(face.embedding, include_restricted=True, limit=CANDIDATES)
    best = 0.0
    rows = Face.objects.filter(pk__in=[c.face_id for c in candidates]).select_related("photo")
    for row in rows:
        try:
            with default_storage.open(row.photo.image.name, "rb") as handle:
                scraped = load_image(handle.read())
        except (FileNotFoundError, ValueError, OSError):
            continue
        best = max(best, copy_score(image, face, scraped, row.landmarks))
    return (candidates[0].distance if candidates else None), best


def check_not_known_photo(image: np.ndarray, face: DetectedFace) -> tuple[float | None, float]:
    """The face is not a copy of a scraped face (``known_photo``). Returns
    the nearest distance and the copy score (the DPO's evidence)."""
    distance, score = nearest_scraped(image, face)
    if score >= COPY_MIN:
        raise LivenessFailed("known_photo")
    return distance, score
