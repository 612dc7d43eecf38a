"""No frame of a burst is another frame sent again."""

from __future__ import annotations

import hashlib

from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.messages import LivenessFailed


def check_no_repeats_in_burst(frames: list[Frame]) -> None:
    """No frame of a burst is another frame sent again."""
    digests = [hashlib.sha256(f.image.tobytes()).hexdigest() for f in frames]
    if len(set(digests)) < len(digests):
        raise LivenessFailed("repeated_frame")
