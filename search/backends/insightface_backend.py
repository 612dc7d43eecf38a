"""insightface's SCRFD detector and ArcFace recogniser (512-d, cosine).

The models are ONNX files in a folder (``settings.INSIGHTFACE_MODEL_DIR``,
by default ``<PORTAL_DATA_DIR>/models/buffalo_l``), loaded the way
insightface's ``FaceAnalysis`` does: every ``*.onnx`` file goes through
``insightface.model_zoo.get_model``, which tells a detector from a
recogniser by its inputs and outputs; landmark and gender/age models of the
pack are skipped. insightface and onnxruntime are imported on first use.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from .base import (
    BackendUnavailable,
    DetectedFace,
    FaceBackend,
    check_image,
    clip_box,
    sort_largest_first,
)

logger = logging.getLogger(__name__)

# buffalo_l's detector and recogniser; loaded first so that the pack's other
# models (large landmark networks) need not be opened at all.
PREFERRED_FILES = ("det_10g.onnx", "w600k_r50.onnx")

INSTALL_HELP = (
    "To install the buffalo_l models: on a machine with internet access download "
    "buffalo_l.zip from the insightface releases "
    "(https://github.com/deepinsight/insightface/releases, asset buffalo_l.zip; licensed "
    "for non-commercial research only), then run `python manage.py install_face_models "
    "buffalo_l.zip`, which checks the pack and installs it into {folder}."
)


class InsightFaceBackend(FaceBackend):
    name = "insightface"
    dimension = 512
    metric = "cosine"
    # Cosine distances (1 - cosine similarity) for ArcFace w600k_r50; the
    # calibration command refines these.
    default_match_threshold = 0.60
    default_possible_threshold = 0.70

    def __init__(self, model_dir: str | Path | None = None) -> None:
        super().__init__()
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._load_lock = threading.Lock()
        # (folder, detector, recogniser) of the last folder loaded.
        self._loaded: tuple[Path, Any, Any] | None = None

    # -- models -------------------------------------------------------------

    def model_dir(self) -> Path:
        """The model folder: the constructor's, else the settings' (read now)."""
        if self._model_dir is not None:
            return self._model_dir
        return Path(settings.INSIGHTFACE_MODEL_DIR)

    def load(self) -> None:
        self._get_models()

    def _get_models(self) -> tuple[Any, Any]:
        folder = self.model_dir()
        loaded = self._loaded
        if loaded is not None and loaded[0] == folder:
            return loaded[1], loaded[2]
        with self._load_lock:
            loaded = self._loaded
            if loaded is None or loaded[0] != folder:
                detector, recogniser = self._load_folder(folder)
                self._loaded = loaded = (folder, detector, recogniser)
        return loaded[1], loaded[2]

    def _load_folder(self, folder: Path) -> tuple[Any, Any]:
        help_text = INSTALL_HELP.format(folder=folder)
        if not folder.is_dir():
            raise BackendUnavailable(
                f"The insightface model folder {folder} does not exist. {help_text}"
            )
        try:
            from insightface.model_zoo import model_zoo
        except ImportError as exc:
            raise BackendUnavailable(
                "The insightface face model needs the Python packages 'insightface' and "
                f"'onnxruntime' (pip install insightface onnxruntime): {exc}"
            ) from exc

        files = sorted(folder.glob("*.onnx"), key=lambda p: (p.name not in PREFERRED_FILES, p.name))
        detector = recogniser = None
        problems = []
        for path in files:
            if detector is not None and recogniser is not None:
                break
            try:
                model = model_zoo.get_model(str(path), providers=["CPUExecutionProvider"])
            except Exception as exc:  # a damaged or foreign file: say so, go on
                logger.warning("insightface: cannot load %s: %s", path, exc)
                problems.append(f"{path.name}: {exc}")
                continue
            task = getattr(model, "taskname", None)
            if task == "detection" and detector is None:
                detector = model
            elif task == "recognition" and recogniser is None:
                recogniser = model
            else:
                logger.debug("insightface: skipping %s (%s)", path, task)

        missing = []
        if detector is None:
            missing.append("face detector (SCRFD, e.g. det_10g.onnx)")
        if recogniser is None:
            missing.append("face recognition model (ArcFace, e.g. w600k_r50.onnx)")
        if missing:
            found = ", ".join(p.name for p in files) or "no .onnx files"
            details = f" Files that failed to load: {'; '.join(problems)}." if problems else ""
            raise BackendUnavailable(
                f"The insightface model folder {folder} has no {' and no '.join(missing)} "
                f"(found: {found}).{details} {help_text}"
            )
        if not getattr(detector, "use_kps", False):
            raise BackendUnavailable(
                f"The face detector in {folder} does not output the five landmarks needed "
                f"to align faces. {help_text}"
            )
        output = recogniser.output_shape[-1] if recogniser.output_shape else None
        if output != self.dimension:
            raise BackendUnavailable(
                f"The face recognition model in {folder} outputs {output} values; the "
                f"'{self.name}' face model stores {self.dimension}. {help_text}"
            )

        side = settings.INSIGHTFACE_DET_SIZE
        detector.prepare(ctx_id=-1, input_size=(side, side),
                         det_thresh=settings.INSIGHTFACE_DET_THRESH)
        recogniser.prepare(ctx_id=-1)
        return detector, recogniser

    # -- detection ------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        image = check_image(image)
        detector, recogniser = self._get_models()
        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # insightface works in BGR

        bboxes, kpss = detector.detect(bgr)
        if bboxes is None or len(bboxes) == 0 or kpss is None:
            return []

        crop_size = int(recogniser.input_size[0])
        candidates = []
        crops = []
        for row, kps in zip(bboxes, kpss, strict=True):
            box = clip_box(float(row[0]), float(row[1]), float(row[2]), float(row[3]),
                           width, height)
            points = np.asarray(kps, dtype=np.float64).reshape(5, 2)
            if box is None or not np.isfinite(points).all():
                continue
            crop = align_face(bgr, points, crop_size)
            if crop is None:
                logger.debug("insightface: cannot align a face at %s", box)
                continue
            candidates.append((box, points, float(row[4])))
            crops.append(crop)
        if not crops:
            return []

        features = np.asarray(recogniser.get_feat(crops), dtype=np.float64)
        faces = []
        for (box, points, score), feature in zip(candidates, features, strict=True):
            norm = float(np.linalg.norm(feature))
            if not math.isfinite(norm) or norm == 0:
                continue
            faces.append(
                DetectedFace(
                    box=box,
                    # SCRFD's keypoints: image-left eye, image-right eye, nose
                    # tip, image-left and image-right mouth corner.
                    landmarks=tuple((float(x), float(y)) for x, y in points),
                    score=score,
                    embedding=(feature / norm).astype(np.float32),
                )
            )
        return sort_largest_first(faces)


def alignment_matrix(points: np.ndarray, size: int = 112) -> np.ndarray | None:
    """The 2x3 similarity transform taking five landmarks onto ArcFace's template.

    A least-squares fit of scale, rotation and translation (the same
    criterion as insightface's ``face_align.estimate_norm``): unknowns
    ``a = s*cos(t)``, ``b = s*sin(t)``, ``tx``, ``ty`` with
    ``x' = a*x - b*y + tx`` and ``y' = b*x + a*y + ty``. ``None`` when the
    points are degenerate.
    """
    from insightface.utils.face_align import arcface_dst

    if size % 112 == 0:
        target = np.asarray(arcface_dst, dtype=np.float64) * (size / 112)
    else:  # 128-based crops are shifted right by 8/128 of their width
        target = np.asarray(arcface_dst, dtype=np.float64) * (size / 128)
        target[:, 0] += 8 * size / 128
    x, y = points[:, 0], points[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    system = np.vstack([
        np.column_stack([x, -y, ones, zeros]),
        np.column_stack([y, x, zeros, ones]),
    ])
    values = np.concatenate([target[:, 0], target[:, 1]])
    solution, _, rank, _ = np.linalg.lstsq(system, values, rcond=None)
    a, b, tx, ty = solution
    if rank < 4 or not np.isfinite(solution).all() or math.hypot(a, b) < 1e-9:
        return None
    return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float64)


def align_face(bgr: np.ndarray, points: np.ndarray, size: int) -> np.ndarray | None:
    """The ``size`` x ``size`` aligned crop the recogniser expects, or None."""
    import cv2

    matrix = alignment_matrix(points, size)
    if matrix is None:
        return None
    return cv2.warpAffine(bgr, matrix, (size, size), borderValue=0.0)
