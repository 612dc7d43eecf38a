"""Something moves in a burst."""

from __future__ import annotations

from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.messages import LivenessFailed

#: Mean absolute difference (grey levels) of 80x60 thumbnails of two
#: consecutive frames of a burst (``frames.frame_changes``). Below STILL_MAX
#: for every pair, nothing moved at all (a still sent again with camera
#: noise measures 0.3).
STILL_MAX = 0.8


def check_not_still(frames: list[Frame], changes: list[float]) -> None:
    """Something moves: a still sent again and again, even with fresh
    camera noise, is not a person in front of a camera."""
    if max(changes) < STILL_MAX:
        raise LivenessFailed("still_burst")
