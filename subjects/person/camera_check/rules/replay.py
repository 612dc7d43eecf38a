"""No frame was sent in an earlier challenge (``fingerprints``): not the
same file, not the same picture saved again, and not the same face shifted,
rescaled, turned, mirrored or re-encoded."""

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
#: Two aligned faces (``fingerprints.face_hash``, the mirror image's too)
#: this close are one frame. Measured on the sample video (640x480, every
#: 4th frame in which dlib finds one face, 2026-12-07): a frame against the
#: same frame shifted 5/4 px, rescaled 4 %, turned 4 deg with 8 % zoom,
#: mirrored, or saved again at JPEG quality 60: median 10-16.5 bits, at
#: most 61 for a single frame (the 5-point alignment jitters); two different
#: frames of the video, 0.13 s or more apart: at least 28, 1st percentile
#: 45, median 97. A single frame can therefore fall either side: a burst is
#: a replay when at least half its frames are within the threshold.
FACE_REPLAY_MAX_BITS = 20


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


def nearest_replay(face: str, mirrored: str, challenge: LivenessChallenge) -> int:
    """The fewest bits between this frame's aligned face (or its mirror
    image) and any face fingerprinted by another challenge; 256 if none."""
    earlier = FrameFingerprint.objects.exclude(challenge=challenge).filter(
        face_hash__isnull=False)
    best = 256
    for bits in (face, mirrored):
        row = (earlier.annotate(bits=HammingDistance("face_hash", bits))
               .order_by("bits").values_list("bits", flat=True).first())
        if row is not None:
            best = min(best, int(row))
    return best


def check_face_not_replayed(faces: list[tuple[str, str]], challenge: LivenessChallenge
                            ) -> list[int]:
    """At least half the burst's aligned faces (or their mirror images) are
    not within ``FACE_REPLAY_MAX_BITS`` of a face another challenge saw.
    Returns each frame's nearest distance (the DPO's evidence)."""
    nearest = [nearest_replay(face, mirrored, challenge) for face, mirrored in faces]
    if sum(bits <= FACE_REPLAY_MAX_BITS for bits in nearest) * 2 >= len(nearest):
        raise LivenessFailed("replayed_frames")
    return nearest
