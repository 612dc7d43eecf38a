"""The steps of a job: each recorded when done, so a job resumes after its
last recorded step, and a step that finds its work done returns quietly.
A job is claimed with a conditional update on a lease, so two workers never
run the same job."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
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


def checkpoint(name: str, detail: str = "") -> None:
    """A point between steps where tests break things on purpose. With
    ``JOB_PAUSE_AT`` set to this name the worker writes a marker and waits to
    be killed (SIGKILL); with ``JOB_HOLD_AT`` it waits until the test removes
    the marker (after cutting its database connection, say). With
    ``JOB_HOLD_DIR``, a test asks for a hold while workers run: the first
    worker to reach a point named by a file ``hold:NAME`` (or
    ``hold:NAME:DETAIL``) takes that file as its marker ``held-PID`` and
    waits until the test removes it. All are unset in production."""
    if settings.JOB_HOLD_DIR:
        _hold_if_asked(Path(settings.JOB_HOLD_DIR), name, detail)
    for where, forever in ((settings.JOB_PAUSE_AT, True), (settings.JOB_HOLD_AT, False)):
        if where and where == name:
            if name in _held:
                continue  # a hold happens once; the retry runs through
            _held.add(name)
            marker = settings.DATA_DIR / f"job-paused-{os.getpid()}"
            marker.write_text(name)
            while forever or marker.exists():
                time.sleep(0.1)


def _hold_if_asked(folder: Path, name: str, detail: str) -> None:
    marker = folder / f"held-{os.getpid()}"
    for asked in (f"hold:{name}:{detail}", f"hold:{name}"):
        try:
            # A rename is atomic: of several workers, one takes the hold.
            (folder / asked).rename(marker)
        except FileNotFoundError:
            continue
        marker.write_text(f"{name}:{detail}" if detail else name)
        while marker.exists():
            time.sleep(0.05)
        return


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


@contextmanager
def lease_kept(job: RequestJob, owner: str):
    """Renew ``owner``'s lease on ``job`` every third of its length while the
    block runs, from a thread of its own: a long step keeps its job, and a
    worker that dies lets go of it within one lease."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.JOB_LEASE_SECONDS / 3):
                try:
                    RequestJob.objects.filter(pk=job.pk, lease_owner=owner).update(
                        lease_until=timezone.now() + lease_duration())
                except TRANSIENT:
                    connection.close()  # dropped: the next round opens a new one
        finally:
            connection.close()

    keeper = threading.Thread(target=renew, name=f"lease-{job.pk}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


def run_step(job: RequestJob, name: str, work: Callable[[], None]) -> None:
    """Run one step unless it is recorded as done, then record it, saving
    only what the step changed: a photo step of a large erasure writes its
    name and the lease, not again the plan of every face and photo."""
    if name in job.steps_done:
        return
    before = {field: getattr(job, field) for field in STEP_FIELDS}
    work()
    checkpoint(f"{job.kind}:{name.split(':')[0]}", job.request.reference)
    job.steps_done = [*job.steps_done, name]
    job.lease_until = timezone.now() + lease_duration()
    changed = [field for field, value in before.items() if getattr(job, field) is not value]
    # Recorded only while this worker holds the job: one that lost its lease
    # (cut off for longer than it) leaves the job to the worker that took it.
    kept = RequestJob.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(
        steps_done=job.steps_done, lease_until=job.lease_until,
        **{field: getattr(job, field) for field in changed})
    if not kept:
        raise LeaseHeld(settings.JOB_LEASE_SECONDS)
