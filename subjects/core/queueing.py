"""Queueing Celery tasks by name, once the transaction commits.

The floors below the tasks start work above them this way, without
importing the task modules: a task never runs before the rows it needs are
committed, and a rolled-back change queues nothing. The routes in
``CELERY_TASK_ROUTES`` apply to tasks sent by name too.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

SELFIE_SEARCH = "subjects.run_selfie_search"
SEND_EMAIL = "subjects.send_email"
CARRY_OUT_REQUEST = "subjects.job.carry_out"


def send_now(name: str, *args) -> None:
    """Queue ``name`` at once (for sweeps that run outside a change)."""
    current_app.send_task(name, args=list(args))


def queue_on_commit(name: str, *args) -> None:
    transaction.on_commit(lambda: send_now(name, *args))
