"""One person throughout the capture."""

from __future__ import annotations

import numpy as np

from search.backends import get_backend
from subjects.person.camera_check.messages import LivenessFailed


def check_same_person(bursts: list[list[np.ndarray]]) -> None:
    """One person throughout: every frame near the mean face of its burst,
    and the bursts' mean faces near each other, within the model's strict
    (``match``) threshold. (Single frames of one person turning away can be
    farther apart than that: the video's were up to 0.62 with dlib; to
    their burst's mean at most 0.37, burst to burst at most 0.24.)"""
    backend = get_backend()
    means = []
    for embeddings in bursts:
        mean = np.mean(np.asarray(embeddings, dtype=np.float32), axis=0)
        if any(backend.distance(e, mean) > backend.match_threshold for e in embeddings):
            raise LivenessFailed("different_people")
        means.append(mean)
    for i, a in enumerate(means):
        for b in means[i + 1:]:
            if backend.distance(a, b) > backend.match_threshold:
                raise LivenessFailed("different_people")
