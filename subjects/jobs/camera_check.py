"""On the ``search`` workers: the camera check's bursts, each checked as it
arrives (``subjects.person.camera_check``: the rules, the face model's work),
so that no page of the portal waits for a face model."""

from __future__ import annotations

from subjects.jobs.steps import checkpoint
from subjects.person.camera_check import check_queued_burst, give_up_check
from subjects.person.camera_check import resume_stalled_checks as resume_stalled_bursts


def check_burst(challenge_id: int, step: int) -> str:
    """Check the burst that waits for ``challenge_id``'s pose ``step``."""
    checkpoint("camera:check", str(challenge_id))
    return check_queued_burst(challenge_id, step)


def give_up(challenge_id: int) -> None:
    """A burst no worker could check: the person starts the check again."""
    give_up_check(challenge_id)


def resume_stalled_checks() -> int:
    """Bursts whose check was lost with its task, queued again."""
    return resume_stalled_bursts()
