"""Queueing Celery tasks by name, once the transaction commits.

The floors below the tasks start work above them this way, without
importing the task modules: a task never runs before the rows it needs are
committed, and a rolled-back change queues nothing. The routes in
``CELERY_TASK_ROUTES`` apply to tasks sent by name too.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

SELFIE_SEARCH = "subjects.run_selfie_search"
CHECK_BURST = "subjects.check_camera_burst"
SEND_EMAIL = "subjects.send_email"
CARRY_OUT_REQUEST = "subjects.job.carry_out"


def send_now(name: str, *args) -> None:
    """Queue ``name`` at once (for sweeps that run outside a change)."""
    current_app.send_task(name, args=list(args))


def send_or_leave_to_sweep(name: str, *args) -> None:
    """Queue ``name`` now; if the broker is down, leave it: the row it is
    about is committed, and beat's sweep queues it again (at least once).
    Raising here, after the commit, would fail the step that committed."""
    try:
        send_now(name, *args)
    except Exception as error:  # noqa: BLE001 - any broker failure; the sweep covers it
        logger.warning("could not queue %s (%s); the recovery sweep will",
                       name, type(error).__name__)


def queue_on_commit(name: str, *args) -> None:
    transaction.on_commit(lambda: send_or_leave_to_sweep(name, *args))
