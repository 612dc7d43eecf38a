"""The steps of a job: each recorded when done, so a job resumes after its
last recorded step, and a step that finds its work done returns quietly.
A job is claimed with a conditional update on a lease, so two workers never
run the same job."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import F, Q
from django.utils import timezone

from subjects.models import RequestJob

#: Failures worth retrying: the database or the disk hiccuped.
TRANSIENT = (OperationalError, InterfaceError, OSError)


class JobFailed(Exception):
    """A failure that retrying will not fix; the DPO must look."""


class LeaseHeld(Exception):
    """Another worker holds the job; try again when its lease ends."""

    def __init__(self, seconds: float):
        super().__init__(f"held for {seconds:.0f}s more")
        self.seconds = seconds


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.JOB_LEASE_SECONDS)


_held: set[str] = set()


def checkpoint(name: str) -> None:
    """A point between steps where tests break things on purpose. With
    ``JOB_PAUSE_AT`` set to this name the worker writes a marker and waits to
    be killed (SIGKILL); with ``JOB_HOLD_AT`` it waits until the test removes
    the marker (after cutting its database connection, say). Both are unset
    in production."""
    for where, forever in ((settings.JOB_PAUSE_AT, True), (settings.JOB_HOLD_AT, False)):
        if where and where == name:
            if name in _held:
                continue  # a hold happens once; the retry runs through
            _held.add(name)
            marker = settings.DATA_DIR / f"job-paused-{os.getpid()}"
            marker.write_text(name)
            while forever or marker.exists():
                time.sleep(0.1)


def claim(job: RequestJob, owner: str) -> bool:
    now = timezone.now()
    return bool(
        RequestJob.objects.filter(pk=job.pk)
        .exclude(status=RequestJob.Status.DONE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner))
        .update(status=RequestJob.Status.RUNNING, lease_owner=owner,
                lease_until=now + lease_duration(), attempts=F("attempts") + 1)
    )


#: What a step may change of its job. Steps replace these (``job.plan = {...}``),
#: never change them in place: what a step replaced is what gets saved.
STEP_FIELDS = ("plan", "result")


def run_step(job: RequestJob, name: str, work: Callable[[], None]) -> None:
    """Run one step unless it is recorded as done, then record it, saving
    only what the step changed: a photo step of a large erasure writes its
    name and the lease, not again the plan of every face and photo."""
    if name in job.steps_done:
        return
    before = {field: getattr(job, field) for field in STEP_FIELDS}
    work()
    checkpoint(f"{job.kind}:{name.split(':')[0]}")
    job.steps_done = [*job.steps_done, name]
    job.lease_until = timezone.now() + lease_duration()
    changed = [field for field, value in before.items() if getattr(job, field) is not value]
    job.save(update_fields=["steps_done", "lease_until", *changed])
