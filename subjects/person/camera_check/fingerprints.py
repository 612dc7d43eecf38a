"""Replay fingerprints: a SHA-256 of each frame's file, a difference hash
of its whole picture and a difference hash of its face aligned by its
landmarks (:func:`face_hash`), kept for the retention period (``purge``)
so that frames sent in one challenge are refused in any later one
(``rules/replay``), whether sent again as they were, shifted, rescaled,
turned a little, mirrored or saved again. None can be turned back into a
picture or a face template."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from search.backends import DetectedFace
from subjects.models import FrameFingerprint, LivenessChallenge
from subjects.person.camera_check.rules.copies import aligned_face


def dhash(image: np.ndarray) -> str:
    """A 256-bit difference hash of the picture (16x16 brightness steps),
    as a string of bits."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return _bits(grey)


def _bits(grey: np.ndarray) -> str:
    small = cv2.resize(grey.astype(np.float32), (17, 16), interpolation=cv2.INTER_AREA)
    return "".join("1" if bit else "0" for bit in (small[:, 1:] > small[:, :-1]).ravel())


def face_hash(image: np.ndarray, face: DetectedFace, *, mirror: bool = False) -> str:
    """A 256-bit difference hash of the face warped by its eyes and nose onto
    a 64x64 grey square (``copies.aligned_face``): a shift, a rescale or a
    small rotation of the frame is undone by the alignment; ``mirror``
    hashes the frame's mirror image aligned the same way, so that a frame
    and its mirror image give the same hash."""
    return _bits(aligned_face(image, face, mirror=mirror))


def bits_apart(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def remember(challenge: LivenessChallenge, step: int, data: list[bytes],
             hashes: list[str], faces: list[str] | None = None) -> None:
    """Fingerprint the frames (kept for the retention period); ``faces``:
    their face hashes, when the faces were found."""
    faces = faces if faces and len(faces) == len(data) else [None] * len(data)
    FrameFingerprint.objects.bulk_create([
        FrameFingerprint(challenge=challenge, step=step,
                         sha256=hashlib.sha256(frame).hexdigest(), dhash=bits, face_hash=face)
        for frame, bits, face in zip(data, hashes, faces, strict=True)
    ])
