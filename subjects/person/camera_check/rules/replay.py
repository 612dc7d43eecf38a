"""No frame was sent in an earlier challenge (``fingerprints``)."""

from __future__ import annotations

import hashlib

from pgvector.django import HammingDistance

from subjects.models import FrameFingerprint, LivenessChallenge
from subjects.person.camera_check.fingerprints import bits_apart
from subjects.person.camera_check.messages import LivenessFailed

#: Two frames whose 256-bit difference hashes differ in at most this many
#: bits are one frame: a frame saved again as JPEG or rescaled measured
#: 0-4, two video frames 0.2 s apart 44-149.
REPLAY_MAX_BITS = 8


def check_not_replayed(data: list[bytes], hashes: list[str],
                       challenge: LivenessChallenge) -> None:
    """No frame was sent in an earlier challenge (of any request): not the
    same file, and not the same picture saved again, for most of a burst
    whose frames differ among themselves (a still scene gives alike frames
    to anyone; a still burst fails ``still.check_not_still``)."""
    earlier = FrameFingerprint.objects.exclude(challenge=challenge)
    digests = [hashlib.sha256(frame).hexdigest() for frame in data]
    if earlier.filter(sha256__in=digests).exists():
        raise LivenessFailed("replayed_frames")
    moving = any(bits_apart(a, b) > REPLAY_MAX_BITS
                 for a, b in zip(hashes, hashes[1:], strict=False))
    if not moving:
        return
    seen = sum(
        earlier.annotate(bits=HammingDistance("dhash", bits)).filter(
            bits__lte=REPLAY_MAX_BITS).exists()
        for bits in hashes
    )
    if seen * 2 >= len(hashes):
        raise LivenessFailed("replayed_frames")
