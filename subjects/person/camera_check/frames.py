"""The frames of a burst: how many, reading them, the one frame of a burst
that is kept until the decision, and the files a burst waits in for its
worker."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid

import cv2
import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from search.backends import DetectedFace
from subjects.models import LivenessBurst, LivenessChallenge
from subjects.person.camera_check.messages import LivenessFailed
from subjects.person.selfie import SelfieRejected, read_image

FRAME_DIR = "liveness"
#: Where a burst waits for its worker (readable only by the portal's user,
#: deleted once checked, or with its challenge when that runs out).
QUEUED_DIR = f"{FRAME_DIR}/queued"

#: Frames the page sends per pose, 0.2 s apart; the server takes exactly
#: this many (a burst of 4 gave the rules too little to measure).
BURST_FRAMES = 6
#: Each frame a JPEG (the page's canvas makes one), of at most 1920x1080
#: pixels (a full-HD webcam; about 2 megapixels) and this many bytes (such
#: a frame at the page's quality 0.9 is about 0.2-0.6 MB). Checked in the
#: web process from the file's header, before anything is stored.
MAX_FRAME_PIXELS = 1920 * 1080
MAX_FRAME_BYTES = 2 * 1024 * 1024


@dataclasses.dataclass
class Frame:
    data: bytes
    image: np.ndarray  # RGB
    face: DetectedFace
    #: Found at the model's lower bar (``rules.one_face``).
    doubtful: bool = False


def check_frame_count(data: list[bytes]) -> None:
    """Exactly ``BURST_FRAMES`` frames, each a JPEG of at most
    ``MAX_FRAME_PIXELS`` and ``MAX_FRAME_BYTES``, read from its header
    only (no picture is decoded in the web process)."""
    if len(data) != BURST_FRAMES or not all(data):
        raise LivenessFailed("frames_missing")
    for frame in data:
        if len(frame) > MAX_FRAME_BYTES:
            raise LivenessFailed("frame_too_large")
        if not frame.startswith(b"\xff\xd8\xff"):
            raise LivenessFailed("frame_not_jpeg")
        try:
            with Image.open(io.BytesIO(frame)) as image:
                if image.format != "JPEG":
                    raise LivenessFailed("frame_not_jpeg")
                width, height = image.size
        except (OSError, Image.DecompressionBombError, ValueError):
            raise LivenessFailed("frame_not_jpeg") from None
        if width * height > MAX_FRAME_PIXELS:
            raise LivenessFailed("frame_too_large")


def read_frames(data: list[bytes]) -> list[np.ndarray]:
    """Enough frames, each a picture we can read."""
    check_frame_count(data)
    images = []
    for frame in data:
        try:
            images.append(read_image(frame))
        except SelfieRejected as rejected:
            raise LivenessFailed(f"frame_{rejected.code}") from None
    return images


def thumbnail(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (80, 60), interpolation=cv2.INTER_AREA).astype(np.float32)


def frame_changes(frames: list[Frame]) -> list[float]:
    """Mean absolute difference of consecutive frames' thumbnails."""
    thumbs = [thumbnail(f.image) for f in frames]
    return [float(np.mean(np.abs(b - a))) for a, b in zip(thumbs, thumbs[1:], strict=False)]


def store_queued(data: list[bytes]) -> list[str]:
    """The frames of a burst stored for its worker; their names."""
    return [default_storage.save(f"{QUEUED_DIR}/{uuid.uuid4().hex}.img", ContentFile(frame))
            for frame in data]


def read_stored(name: str) -> bytes:
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise LivenessFailed("frames_missing") from None


def keep_burst(challenge: LivenessChallenge, step: int, pose: str, arrived: dt.datetime,
               frame: Frame, measures: dict) -> LivenessBurst:
    name = default_storage.save(f"{FRAME_DIR}/{uuid.uuid4().hex}.img", ContentFile(frame.data))
    return LivenessBurst.objects.create(
        challenge=challenge, step=step, pose=pose, revealed_at=challenge.revealed_at,
        received_at=arrived, frame_file=name, measures=measures)
