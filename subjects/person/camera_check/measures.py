"""What the capture-wide rules need of a burst, measured once on its
frames and kept with it as JSON (``LivenessBurst.measures``): each frame's
head turn and face template, the motion against the background, and the
chosen frame with its face and its scene."""

from __future__ import annotations

import numpy as np

from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.rules.background import relative_motion
from subjects.person.camera_check.rules.scene import scene_histogram


def chosen_frame(turns: list[float], pose: str) -> int:
    """The frame that shows the pose best: the most frontal one for
    "straight", the farthest turned the asked way for a turn."""
    if pose == "straight":
        return int(np.argmin(np.abs(turns)))
    sign = 1 if pose == "left" else -1
    return int(np.argmax([sign * t for t in turns]))


def measure_burst(frames: list[Frame], pose: str) -> dict:
    """What the capture-wide rules need of a burst, as JSON."""
    turns = [f.face.head_turn() for f in frames]
    chosen = chosen_frame(turns, pose)
    face = frames[chosen].face
    return {
        "turns": [round(t, 4) for t in turns],
        "embeddings": [[float(v) for v in f.face.embedding] for f in frames],
        "motion": round(relative_motion(frames), 4),
        "chosen": chosen,
        "box": list(face.box),
        "landmarks": [list(p) for p in face.landmarks],
        "scene": [float(v) for v in scene_histogram(frames[chosen].image, face.box)],
    }
