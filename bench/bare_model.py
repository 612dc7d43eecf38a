"""The bare face model: dlib's HOG detector, 5-point shape predictor and
ResNet descriptor called directly, with no portal code around them.

It does the same model work as ``search.backends.dlib_backend`` (the same
model files and the same upsampling rule: twice below 640 px, else once),
so the difference to the portal's pipelines is the portal's own overhead.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

FACES_DIR = Path(__file__).resolve().parent.parent / "search" / "demo_data" / "faces"
SMALL_IMAGE_SIDE = 640


def demo_images() -> list[Path]:
    """The demo set's image files (the labelled faces of ``search/demo_data``)."""
    return sorted(p for p in FACES_DIR.iterdir()
                  if p.suffix.lower() in {".jpg", ".jpeg", ".png"})


class BareDlib:
    def __init__(self) -> None:
        import dlib
        import face_recognition_models

        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(
            face_recognition_models.pose_predictor_five_point_model_location())
        self.encoder = dlib.face_recognition_model_v1(
            face_recognition_models.face_recognition_model_location())

    def faces(self, data: bytes) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """Decode, detect, embed: ``(box, embedding)`` of each face found."""
        from PIL import Image

        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        upsample = 2 if max(image.shape[:2]) < SMALL_IMAGE_SIDE else 1
        rects = self.detector(image, upsample)
        if not rects:
            return []
        shapes = self._dlib.full_object_detections()
        for rect in rects:
            shapes.append(self.predictor(image, rect))
        descriptors = self.encoder.compute_face_descriptor(image, shapes, 0)
        return [((r.left(), r.top(), r.width(), r.height()), np.asarray(d, dtype=np.float32))
                for r, d in zip(rects, descriptors, strict=True)]
