"""The crawler's question: is this face on the suppression list?

People who had their data erased, or who objected, and agreed that their
face template be kept for this alone, must not be collected again. The
crawler sends either an embedding made by one of our face models, or the
image itself (we find and embed its faces). Every kind of bad input gets a
400 with a sentence that says what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from search.backends import BackendUnavailable, available_backends, get_backend
from search.imaging import ImageError, load_image
from search.matching import is_suppressed

#: A JSON question is a model name and at most a few thousand numbers.
MAX_JSON_BYTES = 64 * 1024
# float32: what the vector column stores; anything larger becomes infinity.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class BadQuestion(Exception):
    def __init__(self, message, *, status: int = 400):
        super().__init__(str(message))
        self.message = message
        self.status = status


def max_image_bytes() -> int:
    return settings.FACE_UPLOAD_MAX_BYTES


def max_body_bytes(content_type: str) -> int:
    if content_type.startswith("multipart/"):
        # The image plus the form's own few fields and boundaries.
        return max_image_bytes() + 64 * 1024
    return MAX_JSON_BYTES


def backend_for(model):
    if model is None or model == "":
        return get_backend()
    if not isinstance(model, str):
        raise BadQuestion(_("“model” must be the name of a face model: one of %(models)s.")
                          % {"models": ", ".join(available_backends())})
    try:
        return get_backend(model)
    except ValueError:
        raise BadQuestion(
            _("Unknown face model “%(model)s”: use one of %(models)s.")
            % {"model": model[:40], "models": ", ".join(available_backends())}
        ) from None


def parse_embedding(model, values) -> tuple[object, np.ndarray]:
    """The backend and the vector of a JSON question, or ``BadQuestion``."""
    if model is None or model == "":
        raise BadQuestion(_("Say which face model made the embedding: “model”, one of "
                            "%(models)s.") % {"models": ", ".join(available_backends())})
    backend = backend_for(model)
    if not isinstance(values, list):
        raise BadQuestion(_("“embedding” must be a list of numbers."))
    if len(values) != backend.dimension:
        raise BadQuestion(
            _("The %(model)s model makes embeddings of %(dimension)d numbers; this one has "
              "%(count)d.") % {"model": backend.name, "dimension": backend.dimension,
                               "count": len(values)})
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
        raise BadQuestion(_("Every value of “embedding” must be a number."))
    try:
        vector = np.asarray(values, dtype=np.float64)
    except OverflowError:
        vector = np.array([np.inf])
    if not np.all(np.isfinite(vector)) or np.any(np.abs(vector) > _FLOAT32_MAX):
        raise BadQuestion(_("Every value of “embedding” must be a finite number (no NaN, no "
                            "infinity, nothing beyond ±3.4e38)."))
    return backend, vector.astype(np.float32)


def check_embedding(model, values) -> dict:
    backend, vector = parse_embedding(model, values)
    return {"suppressed": is_suppressed(vector, model=backend.name), "model": backend.name}


@dataclass(frozen=True)
class FaceAnswer:
    box: tuple[int, int, int, int]
    suppressed: bool


def check_image(data: bytes, model=None) -> dict:
    """Find the image's faces and check each; suppressed if any one is."""
    backend = backend_for(model)
    if len(data) > max_image_bytes():
        raise BadQuestion(_("The image is larger than %(mb)s MB.")
                          % {"mb": f"{max_image_bytes() / 2**20:g}"}, status=413)
    try:
        image = load_image(data)
    except ImageError as error:
        raise BadQuestion(error.message) from None
    try:
        faces = backend.detect(image)
    except BackendUnavailable:
        raise BadQuestion(
            _("The %(model)s model is not installed on this server; send an embedding "
              "instead, or use another model.") % {"model": backend.name}, status=503,
        ) from None
    answers = [FaceAnswer(face.box, is_suppressed(face.embedding, model=backend.name))
               for face in faces]
    return {
        "suppressed": any(answer.suppressed for answer in answers),
        "model": backend.name,
        "faces": [{"box": list(answer.box), "suppressed": answer.suppressed}
                  for answer in answers],
    }
