"""A burst is one unbroken piece of video."""

from __future__ import annotations

import numpy as np

from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.messages import LivenessFailed

#: Mean absolute difference (grey levels) of 80x60 thumbnails of two
#: consecutive frames of a burst (``frames.frame_changes``): above CUT_MIN,
#: one picture was swapped for another: the video measured at most 26.0 (a
#: stage camera panning), a photo shaken by hand at most 18.7, a swap
#: between two photos held up 42.8-48.0.
CUT_MIN = 35.0
#: The face's centre may move this far between two frames (in face widths;
#: the video: at most 0.43), and its size change by this factor (1.2).
JUMP_MAX = 0.75
RESIZE_MAX = 1.5


def check_continuous(frames: list[Frame], changes: list[float]) -> None:
    """One unbroken piece of video: the same picture size, small changes
    from frame to frame, and the face moving smoothly (no jump of place or
    size). A cut from one photo to another breaks it."""
    if len({f.image.shape for f in frames}) != 1 or max(changes) > CUT_MIN:
        raise LivenessFailed("burst_cut")
    for a, b in zip(frames, frames[1:], strict=False):
        (ax, ay), (bx, by) = a.face.center, b.face.center
        width = max(a.face.box[2], 1)
        if np.hypot(bx - ax, by - ay) > JUMP_MAX * width:
            raise LivenessFailed("burst_cut")
        if max(a.face.size, b.face.size) > RESIZE_MAX * min(a.face.size, b.face.size):
            raise LivenessFailed("burst_cut")
