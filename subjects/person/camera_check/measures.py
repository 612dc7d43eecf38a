"""What the capture-wide rules need of a burst, measured once on its
frames and kept with it as JSON (``LivenessBurst.measures``): scalars only,
never a face template, landmark or box (the burst is deleted when the check
ends, and its chosen frame's file with it). The capture-wide rules that
need a face (one person throughout, the scene, copies) find it again in the
kept frame (:func:`kept_face`)."""

from __future__ import annotations

import dataclasses

import numpy as np
from django.core.files.storage import default_storage

from search.backends import DetectedFace, get_backend
from search.imaging import load_image
from subjects.models import LivenessBurst
from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.messages import LivenessFailed
from subjects.person.camera_check.rules.background import relative_motion
from subjects.person.selfie import SelfieRejected, the_only_face

#: The only keys a burst's measures may hold (a test reads every burst).
SCALAR_KEYS = ("turns", "motion", "chosen", "replay_bits", "nearest_scraped", "copy_score")


def chosen_frame(turns: list[float], pose: str, doubtful: list[bool] | None = None) -> int:
    """The frame that shows the pose best: the most frontal one for
    "straight", the farthest turned the asked way for a turn; never one
    whose face was found only at the model's lower bar (``doubtful``; the
    kept frame's face is found again at the usual bar, :func:`kept_face`)."""
    doubtful = doubtful or [False] * len(turns)
    sign = 1 if pose == "left" else -1
    fit = [-abs(t) if pose == "straight" else sign * t for t in turns]
    return max((n for n in range(len(turns)) if not doubtful[n]), key=lambda n: fit[n])


def described(frames: list[Frame], chosen: int) -> list[Frame]:
    """The frames with the embeddings the rules need computed: the chosen
    frame's (the pose's face: the selfie, the known-photo rule) and two
    more for the same-person rule, the first and the last frame (the middle
    one in place of the chosen when that is the first or the last). The
    others keep only their box and landmarks: the model's descriptor is the
    slowest step of a frame (measured 0.15 s of 0.19 s on this machine)."""
    last = len(frames) - 1
    wanted = {chosen, 0, last} if chosen not in (0, last) else {0, last, last // 2}
    backend = get_backend()
    return [dataclasses.replace(f, face=backend.describe(f.image, f.face)) if n in wanted else f
            for n, f in enumerate(frames)]


def measure_burst(frames: list[Frame], pose: str, replay_bits: list[int],
                  known: tuple[float | None, float]) -> dict:
    """What the capture-wide rules need of a burst, as JSON scalars."""
    turns = [f.face.head_turn() for f in frames]
    return {
        "turns": [round(t, 4) for t in turns],
        "motion": round(relative_motion(frames), 4),
        "chosen": chosen_frame(turns, pose, [f.doubtful for f in frames]),
        "replay_bits": min(replay_bits, default=256),
        "nearest_scraped": None if known[0] is None else round(known[0], 4),
        "copy_score": round(known[1], 4),
    }


def kept_face(burst: LivenessBurst) -> tuple[bytes, np.ndarray, DetectedFace]:
    """The kept frame of an earlier burst, its picture and its face, found
    again by the model (about 0.2 s on a search worker)."""
    try:
        with default_storage.open(burst.frame_file, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise LivenessFailed("frames_missing") from None
    image = load_image(data)
    backend = get_backend()
    try:
        return data, image, backend.describe(image, the_only_face(backend.locate(image)))
    except SelfieRejected:
        raise LivenessFailed("frames_missing") from None
