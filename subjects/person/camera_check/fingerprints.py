"""Replay fingerprints: a SHA-256 of each frame's file and a difference hash
of its picture, kept for the retention period (``purge``) so that frames
sent in one challenge are refused in any later one (``rules/replay``).
Neither can be turned back into a picture."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from subjects.models import FrameFingerprint, LivenessChallenge


def dhash(image: np.ndarray) -> str:
    """A 256-bit difference hash of the picture (16x16 brightness steps),
    as a string of bits."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (17, 16), interpolation=cv2.INTER_AREA).astype(np.int16)
    return "".join("1" if bit else "0" for bit in (small[:, 1:] > small[:, :-1]).ravel())


def bits_apart(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def remember(challenge: LivenessChallenge, step: int, data: list[bytes],
             hashes: list[str]) -> None:
    """Fingerprint the frames (kept for the retention period)."""
    FrameFingerprint.objects.bulk_create([
        FrameFingerprint(challenge=challenge, step=step,
                         sha256=hashlib.sha256(frame).hexdigest(), dhash=bits)
        for frame, bits in zip(data, hashes, strict=True)
    ])
