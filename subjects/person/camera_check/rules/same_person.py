"""One person throughout the capture."""

from __future__ import annotations

import numpy as np

from search.backends import get_backend
from subjects.person.camera_check.messages import LivenessFailed


def check_same_person(embeddings: list[np.ndarray], earlier: list[np.ndarray]) -> float:
    """One person throughout: each described frame of the burst (three of
    its six: the first, the last and the chosen one, ``measures.described``)
    near their mean face, and that mean near the kept frame of every earlier burst,
    within the model's strict (``match``) threshold. No template is kept
    between bursts: the earlier kept frames are measured again. (Single
    frames of one person turning away can be farther apart than that: the
    video's were up to 0.62 with dlib, and the kept left and right frames
    0.553; to their burst's mean at most 0.37; a burst's mean to another
    burst's kept frame 0.264-0.433, measured 2026-12-07; two different
    people are farther than 0.6.) Returns the largest distance measured."""
    backend = get_backend()
    mean = np.mean(np.asarray(embeddings, dtype=np.float32), axis=0)
    distances = [backend.distance(e, mean) for e in embeddings]
    distances += [backend.distance(mean, e) for e in earlier]
    if any(d > backend.match_threshold for d in distances):
        raise LivenessFailed("different_people")
    return max(distances)
