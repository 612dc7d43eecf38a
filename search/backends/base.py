"""The interface every face detection and embedding backend implements."""

from __future__ import annotations

import abc
import json
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

__all__ = [
    "BackendUnavailable",
    "DetectedFace",
    "FaceBackend",
    "Thresholds",
]

#: The order of the five landmarks, the same for every backend. "Left" and
#: "right" are the sides of the image, not of the person.
LANDMARK_NAMES = (
    "left_eye",
    "right_eye",
    "nose_tip",
    "mouth_left",
    "mouth_right",
)


class BackendUnavailable(ImproperlyConfigured):
    """A backend's model files or libraries are missing."""


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face found in an image, with its embedding.

    ``box`` is ``(left, top, width, height)`` in pixels of the loaded image,
    clipped to it. ``landmarks`` are five ``(x, y)`` points in the order of
    ``LANDMARK_NAMES``. ``score`` is the detector's confidence (its scale
    depends on the backend). ``embedding`` is a read-only float32 vector of the
    backend's dimension.

    Instances compare by identity (``eq=False``): comparing embeddings
    element-wise is a job for ``FaceBackend.distance``.
    """

    box: tuple[int, int, int, int]
    landmarks: tuple[tuple[float, float], ...]
    score: float
    embedding: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        box = tuple(int(v) for v in self.box)
        if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"a face box needs a positive width and height, got {self.box}")
        landmarks = tuple((float(x), float(y)) for x, y in self.landmarks)
        if len(landmarks) != len(LANDMARK_NAMES):
            raise ValueError(f"a face needs {len(LANDMARK_NAMES)} landmarks, got {len(landmarks)}")
        embedding = np.array(self.embedding, dtype=np.float32).reshape(-1)
        embedding.flags.writeable = False
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "landmarks", landmarks)
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "embedding", embedding)

    @property
    def described(self) -> bool:
        """Whether the embedding was computed (:meth:`FaceBackend.locate`
        leaves it empty until :meth:`FaceBackend.describe`)."""
        return self.embedding.size > 0

    @property
    def size(self) -> int:
        """The box's smaller side in pixels."""
        return min(self.box[2], self.box[3])

    @property
    def center(self) -> tuple[float, float]:
        left, top, width, height = self.box
        return (left + width / 2, top + height / 2)

    def head_turn(self) -> float:
        """How far the nose sits from the eyes' midpoint, in inter-eye distances.

        Measured along the line from the image-left to the image-right eye:
        0 for a frontal face, negative when the nose is nearer the image-left
        eye, positive when nearer the image-right eye.
        """
        (lx, ly), (rx, ry), (nx, ny) = self.landmarks[:3]
        dx, dy = rx - lx, ry - ly
        squared = dx * dx + dy * dy
        if squared == 0:
            return 0.0
        mx, my = (lx + rx) / 2, (ly + ry) / 2
        return ((nx - mx) * dx + (ny - my) * dy) / squared


class Thresholds(NamedTuple):
    match: float
    possible: float
    source: str  # "default" or the calibration file's path


class FaceBackend(abc.ABC):
    """A face detector plus an embedding model.

    Subclasses set ``name`` (stored on every face row), ``dimension``,
    ``metric`` (``"l2"`` or ``"cosine"``) and the default thresholds, and
    implement :meth:`detect`. Thresholds are distances in the backend's
    metric: at or below ``match_threshold`` two faces are taken to be the
    same person, up to ``possible_threshold`` they may be.
    """

    name: ClassVar[str]
    dimension: ClassVar[int]
    metric: ClassVar[str]
    default_match_threshold: ClassVar[float]
    default_possible_threshold: ClassVar[float]

    def __init__(self) -> None:
        self._calibration_lock = threading.Lock()
        self._calibration: dict[Path | None, Thresholds] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- models ---------------------------------------------------------

    def load(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Load the models now; raises :class:`BackendUnavailable` if missing.

        :meth:`detect` loads them on first use; call this to fail early (at
        start-up, in a system check or a management command).
        """

    @abc.abstractmethod
    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Find the faces of an ``(H, W, 3)`` uint8 RGB image, largest first."""

    def locate(self, image: np.ndarray) -> list[DetectedFace]:
        """The faces of an image with their boxes and landmarks, found the
        quickest way the backend has, for the frames of a camera check; their
        embeddings may be left empty until :meth:`describe` (most frames
        need none). Backends without a quicker way find what :meth:`detect`
        finds."""
        return self.detect(image)

    def describe(self, image: np.ndarray, face: DetectedFace) -> DetectedFace:
        """``face`` (found by :meth:`locate` in ``image``) with its embedding."""
        return face

    def detect_doubtful(self, image: np.ndarray) -> list[DetectedFace]:
        """The faces of ``image`` found with a lower bar of confidence than
        :meth:`detect`'s, for a camera frame in which :meth:`detect` found
        none while the frames beside it hold a face: a caller keeps only the
        one where that face is (a lower bar also finds faces in the
        background). Embeddings may be left empty, as :meth:`locate`'s.
        Backends without a lower bar find what :meth:`detect` finds."""
        return self.detect(image)

    def detect_in_regions(self, regions, image: np.ndarray) -> list[DetectedFace]:
        """The faces found in ``regions``, parts of ``image`` (from
        ``search.redaction.regions_around``), each looked at as the whole
        photo would be (:meth:`_detect_region`); boxes are the region's own."""
        return [face for region in regions for face in self._detect_region(region, image)]

    def _detect_region(self, region: np.ndarray, image: np.ndarray) -> list[DetectedFace]:
        return self.detect(region)

    # -- distances ------------------------------------------------------

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """The distance between two embeddings in this backend's metric."""
        return float(self.distances(a, np.asarray(b, dtype=np.float32)[None, :])[0])

    def distances(self, query: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Distances from one embedding to each row of ``embeddings``."""
        q = np.asarray(query, dtype=np.float64).reshape(-1)
        m = np.asarray(embeddings, dtype=np.float64).reshape(-1, q.shape[0])
        if self.metric == "l2":
            return np.linalg.norm(m - q[None, :], axis=1)
        if self.metric == "cosine":
            qn = np.linalg.norm(q)
            mn = np.linalg.norm(m, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                similarity = (m @ q) / (mn * qn)
            return 1.0 - np.nan_to_num(similarity, nan=0.0)
        raise ValueError(f"unknown metric {self.metric!r}")

    # -- thresholds -----------------------------------------------------

    def calibration_path(self) -> Path | None:
        """Where a calibration file for this backend would be, if configured."""
        folder = settings.FACE_CALIBRATION_DIR
        if not folder:
            return None
        return Path(folder) / f"{self.name}.json"

    def thresholds(self) -> Thresholds:
        """The thresholds in force: the calibration file's, else the defaults.

        Read once per calibration path and cached; see
        :meth:`reload_calibration`.
        """
        path = self.calibration_path()
        cached = self._calibration.get(path)
        if cached is not None:
            return cached
        with self._calibration_lock:
            cached = self._calibration.get(path)
            if cached is None:
                cached = self._read_calibration(path)
                self._calibration[path] = cached
        return cached

    def reload_calibration(self) -> None:
        """Forget cached thresholds (after the calibration command ran)."""
        with self._calibration_lock:
            self._calibration.clear()

    @property
    def match_threshold(self) -> float:
        return self.thresholds().match

    @property
    def possible_threshold(self) -> float:
        return self.thresholds().possible

    def _read_calibration(self, path: Path | None) -> Thresholds:
        defaults = Thresholds(
            float(self.default_match_threshold),
            float(self.default_possible_threshold),
            "default",
        )
        if path is None or not path.is_file():
            # Said once per process: thresholds nobody calibrated decide
            # what a person is shown, so an operator must know.
            logger.warning("face model %s: no calibration file at %s; using the default "
                           "thresholds (run calibrate_faces)", self.name, path)
            return defaults
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            match = float(data["match_threshold"])
            possible = float(data["possible_threshold"])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ImproperlyConfigured(
                f"The calibration file {path} is not valid: it must be a JSON object with "
                f"numeric 'match_threshold' and 'possible_threshold' ({exc})."
            ) from exc
        if not (
            math.isfinite(match) and math.isfinite(possible) and 0 < match < possible
        ):
            raise ImproperlyConfigured(
                f"The calibration file {path} must have 0 < match_threshold < "
                f"possible_threshold (got {match} and {possible})."
            )
        return Thresholds(match, possible, str(path))


def sort_largest_first(faces: list[DetectedFace]) -> list[DetectedFace]:
    """Largest box first; equal boxes by descending score."""
    return sorted(faces, key=lambda f: (-(f.box[2] * f.box[3]), -f.score))


def box_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(left, top, width, height)`` boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def clip_box(
    left: float, top: float, right: float, bottom: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """Clip a box given by its edges (right/bottom exclusive) to the image.

    Returns ``(left, top, width, height)`` in whole pixels, or ``None`` when
    nothing of the box lies inside the image.
    """
    if not all(math.isfinite(v) for v in (left, top, right, bottom)):
        return None
    x0 = max(0, min(width, math.floor(left)))
    y0 = max(0, min(height, math.floor(top)))
    x1 = max(0, min(width, math.ceil(right)))
    y1 = max(0, min(height, math.ceil(bottom)))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as a C-contiguous ``(H, W, 3)`` uint8 array, or ValueError."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError("expected a non-empty image")
    return np.ascontiguousarray(image)
