"""A burst answers the pose shown last, in the time a person needs."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from subjects.models import LivenessChallenge
from subjects.person.camera_check.messages import LivenessFailed, StepRefused

#: A burst takes about a second to capture from the moment its pose is
#: shown: one that arrives sooner was taken before the pose was revealed.
MIN_ANSWER_SECONDS = 0.8


def check_timing(challenge: LivenessChallenge, step: int, arrived: dt.datetime) -> None:
    """The burst answers the pose revealed last, not one still hidden, and
    arrived no sooner than a burst takes to capture and no later than the
    pose's deadline, measured on the server."""
    if step >= challenge.revealed or challenge.revealed_at is None:
        raise LivenessFailed("too_early")
    if step < challenge.revealed - 1:
        raise StepRefused()
    elapsed = (arrived - challenge.revealed_at).total_seconds()
    if elapsed < MIN_ANSWER_SECONDS:
        raise LivenessFailed("too_early")
    if elapsed > settings.LIVENESS_POSE_SECONDS:
        raise LivenessFailed("too_late")
