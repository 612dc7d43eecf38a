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

SMALL_IMAGE_SIDE = 640


def samples_dir() -> Path:
    """The labelled sample photos (``settings.FACE_SAMPLES_DIR``); without
    them the benchmark stops with one sentence saying what to set."""
    from django.conf import settings

    from portal import samples

    sentence = samples.problem(settings.FACE_SAMPLES_DIR,
                               needed_by="the ingest and selfie benchmarks need")
    if sentence:
        raise SystemExit(sentence)
    return settings.FACE_SAMPLES_DIR


def sample_images() -> list[Path]:
    """The photos the sample set's ``labels.csv`` names."""
    from portal import samples

    folder = samples_dir()
    return [folder / name for name in samples.labelled_files(folder)]


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
