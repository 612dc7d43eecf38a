"""Calibrating a model's thresholds on labelled photos.

``labels.csv`` names the person behind each face (``file, identity, left,
top, width``; the box is square). Every pair of labelled faces is either
genuine (same person) or impostor (different people). The thresholds:

- ``match``: the middle of the gap between the farthest genuine pair and
  the nearest impostor pair (when the two overlap, the point with the
  fewest errors), so every labelled same-person pair is a match.
- ``possible``: as loose as it can be while still below every impostor
  pair, so the tier a person reviews holds no labelled stranger.

With few labelled pairs, an observed error rate of zero says little; the
report also gives the 95 % upper bound ("rule of three": 3 / pairs) and
what it would mean in false matches per search at several index sizes.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils import timezone

from search.backends import DetectedFace, get_backend
from search.imaging import load_image

INDEX_SIZES = (10_000, 1_000_000, 100_000_000)


@dataclass(frozen=True)
class LabelledFace:
    file: str
    identity: str
    face: DetectedFace


def read_labels(labels_csv: Path) -> list[dict]:
    with labels_csv.open(newline="", encoding="utf-8") as handle:
        return [
            {"file": row["file"], "identity": row["identity"], "left": int(row["left"]),
             "top": int(row["top"]), "width": int(row["width"])}
            for row in csv.DictReader(handle)
        ]


def label_of(center: tuple[float, float], labels: list[dict]) -> dict | None:
    """The label whose (square) box holds a face's centre."""
    cx, cy = center
    for label in labels:
        if (label["left"] <= cx <= label["left"] + label["width"]
                and label["top"] <= cy <= label["top"] + label["width"]):
            return label
    return None


def labelled_faces(labels_csv: Path, *, model: str | None = None) -> list[LabelledFace]:
    backend = get_backend(model)
    labels = read_labels(labels_csv)
    by_file: dict[str, list[dict]] = {}
    for label in labels:
        by_file.setdefault(label["file"], []).append(label)
    found = []
    for file_name, file_labels in sorted(by_file.items()):
        for face in backend.detect(load_image(labels_csv.parent / file_name)):
            label = label_of(face.center, file_labels)
            if label is not None:
                found.append(LabelledFace(file_name, label["identity"], face))
    return found


def _rate(errors: int, pairs: int) -> dict:
    return {
        "observed": errors / pairs if pairs else None,
        "upper_95": (3 / pairs if errors == 0 else min(1.0, (errors + 2) / pairs))
        if pairs else None,
    }


def calibrate(labels_csv: Path, *, model: str | None = None) -> dict:
    backend = get_backend(model)
    faces = labelled_faces(labels_csv, model=backend.name)
    genuine, impostor = [], []
    for a, b in itertools.combinations(faces, 2):
        distance = backend.distance(a.face.embedding, b.face.embedding)
        (genuine if a.identity == b.identity else impostor).append(distance)
    genuine_arr, impostor_arr = np.array(genuine), np.array(impostor)
    if not len(genuine_arr) or not len(impostor_arr):
        raise ValueError("calibration needs at least two photos of one person and two people")
    worst_genuine, best_impostor = float(genuine_arr.max()), float(impostor_arr.min())
    if worst_genuine < best_impostor:
        match = (worst_genuine + best_impostor) / 2
        possible = worst_genuine + 0.9 * (best_impostor - worst_genuine)
    else:
        candidates = np.unique(np.concatenate([genuine_arr, impostor_arr]))
        errors = [(np.sum(genuine_arr > t) + np.sum(impostor_arr <= t), t) for t in candidates]
        match = float(min(errors)[1])
        possible = float(max(match, np.nextafter(best_impostor, 0)))
    match, possible = round(match, 4), round(possible, 4)
    if possible <= match:
        possible = round(match + 1e-4, 4)

    def rates(threshold: float) -> dict:
        false_accepts = int(np.sum(impostor_arr <= threshold))
        false_rejects = int(np.sum(genuine_arr > threshold))
        far = _rate(false_accepts, len(impostor_arr))
        return {
            "threshold": threshold,
            "false_accepts": false_accepts,
            "false_rejects": false_rejects,
            "false_accept_rate": far,
            "false_reject_rate": _rate(false_rejects, len(genuine_arr))["observed"],
            "false_matches_per_search": {
                str(n): {"observed": far["observed"] * n, "upper_95": far["upper_95"] * n}
                for n in INDEX_SIZES
            },
        }

    return {
        "model": backend.name,
        "metric": backend.metric,
        "match_threshold": match,
        "possible_threshold": possible,
        "labelled_faces": len(faces),
        "identities": len({f.identity for f in faces}),
        "genuine_pairs": len(genuine_arr),
        "impostor_pairs": len(impostor_arr),
        "genuine_distance": {"min": float(genuine_arr.min()), "max": worst_genuine},
        "impostor_distance": {"min": best_impostor, "max": float(impostor_arr.max())},
        "match": rates(match),
        "possible": rates(possible),
        "labels": str(labels_csv.name),
        "calibrated_at": timezone.now().isoformat(timespec="seconds"),
    }


def write_calibration(result: dict) -> Path:
    folder = Path(settings.FACE_CALIBRATION_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result['model']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    get_backend(result["model"]).reload_calibration()
    return path
