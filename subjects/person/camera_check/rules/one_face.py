"""Each frame holds exactly one usable face (the selfie's own rule), with
one allowance for a camera: a frame in which the model finds no face at its
usual bar, while the frames beside it hold one, may keep the face the model
finds at a lower bar where theirs is (a head turning away, a brighter room,
a face closer to the camera lower the detector's confidence for a frame or
two)."""

from __future__ import annotations

import numpy as np

from search.backends import DetectedFace, get_backend
from search.backends.base import box_overlap
from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.messages import LivenessFailed
from subjects.person.selfie import SelfieRejected, the_only_face

#: How much of a doubtful face's box must overlap the nearest sure face's
#: (intersection over union). In 0.2 s a turning head's box moved by at
#: most a fifth of its width on the sample video (overlap 0.6 or more).
NEIGHBOUR_OVERLAP = 0.4


def check_one_face_each(data: list[bytes], images: list[np.ndarray]) -> list[Frame]:
    """Each frame holds exactly one usable face: found at the model's usual
    bar, or, in a frame where it finds none, at its lower bar where the
    nearest frame's face is (``Frame.doubtful``; never the pose's chosen
    frame)."""
    backend = get_backend()
    found = [backend.locate(image) for image in images]
    sure = [faces[0] if len(faces) == 1 else None for faces in found]
    frames = []
    for index, (frame, image, faces) in enumerate(zip(data, images, found, strict=True)):
        doubtful = not faces
        if doubtful:
            faces = near_neighbour(backend.detect_doubtful(image), sure, index)
        try:
            face = the_only_face(faces)
        except SelfieRejected as rejected:
            raise LivenessFailed(f"frame_{rejected.code}") from None
        frames.append(Frame(frame, image, face, doubtful=doubtful))
    return frames


def near_neighbour(faces: list[DetectedFace], sure: list[DetectedFace | None],
                   index: int) -> list[DetectedFace]:
    """Those of ``faces`` (found in frame ``index`` at the lower bar) where
    the face of the nearest frame with one sure face is."""
    others = [other for other, face in enumerate(sure) if face is not None and other != index]
    if not others:
        return []
    box = sure[min(others, key=lambda other: abs(other - index))].box
    return [face for face in faces if box_overlap(face.box, box) >= NEIGHBOUR_OVERLAP]
