"""Each frame holds exactly one usable face (the selfie's own rule)."""

from __future__ import annotations

import numpy as np

from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.messages import LivenessFailed
from subjects.person.selfie import SelfieRejected, one_face_in


def check_one_face_each(data: list[bytes], images: list[np.ndarray]) -> list[Frame]:
    """Each frame holds exactly one usable face."""
    frames = []
    for frame, image in zip(data, images, strict=True):
        try:
            face = one_face_in(image)
        except SelfieRejected as rejected:
            raise LivenessFailed(f"frame_{rejected.code}") from None
        frames.append(Frame(frame, image, face))
    return frames
