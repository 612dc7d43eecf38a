"""Carrying out an approved request, exactly once, even when workers die.

A request's jobs (access package first, then erasure) run in order. Each
job records the steps it has finished; a step that finds its work done
returns quietly, so a job resumes after its last recorded step. A job is
claimed with a conditional update on a lease (two workers never run the
same request); a lease that runs out (its worker died) can be taken over,
and ``resume_stalled_jobs`` (Celery beat, every minute) re-queues such
requests in case the broker lost the message with the worker.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from subjects import audit
from subjects.filing import release_faces
from subjects.models import RequestJob, RightsRequest
from subjects.notifications import queue_email
from subjects.states import State, TransitionNotAllowed
from subjects.transitions import transition

logger = logging.getLogger(__name__)

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
    for setting, forever in (("JOB_PAUSE_AT", True), ("JOB_HOLD_AT", False)):
        if getattr(settings, setting) and getattr(settings, setting) == name:
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


def run_step(job: RequestJob, name: str, work: Callable[[], None]) -> None:
    """Run one step unless it is recorded as done, then record it."""
    if name in job.steps_done:
        return
    work()
    checkpoint(f"{job.kind}:{name.split(':')[0]}")
    job.steps_done = [*job.steps_done, name]
    job.lease_until = timezone.now() + lease_duration()
    job.save(update_fields=["steps_done", "plan", "result", "lease_until"])


def runners() -> dict[str, Callable[[RequestJob], None]]:
    from subjects.access import run_access_job
    from subjects.erasure import run_erasure_job

    return {RequestJob.Kind.ACCESS: run_access_job, RequestJob.Kind.ERASURE: run_erasure_job}


def run_request_jobs(request_id: int, *, owner: str) -> str:
    request = RightsRequest.objects.get(pk=request_id)
    if request.state != State.IN_PROGRESS:
        return f"nothing to do ({request.state})"
    for job in request.jobs.order_by("order"):
        if job.status == RequestJob.Status.DONE:
            continue
        if not claim(job, owner):
            job.refresh_from_db()
            remaining = (job.lease_until - timezone.now()).total_seconds() if job.lease_until else 1
            raise LeaseHeld(max(1.0, remaining))
        job.refresh_from_db()
        runners()[job.kind](job)
        RequestJob.objects.filter(pk=job.pk).update(
            status=RequestJob.Status.DONE, finished_at=timezone.now(), lease_owner="",
            lease_until=None, last_error="",
        )
        checkpoint(f"{job.kind}:done")
    try:
        complete_request(request)
    except TransitionNotAllowed:
        return "completed elsewhere"
    return "completed"


def complete_request(request: RightsRequest) -> RightsRequest:
    jobs = {job.kind: job for job in request.jobs.all()}
    with transaction.atomic():
        request = transition(
            request, State.COMPLETED, actor=audit.SYSTEM, action="completed",
            details={kind: job.result for kind, job in jobs.items()},
            closed_at=timezone.now(), selfie_embedding=None,
        )
        release_faces(request)
        erasure = jobs.get(RequestJob.Kind.ERASURE)
        if erasure is not None:
            kind = "objection_done" if request.objection else "erasure_done"
            queue_email(request, kind, event_key=f"{kind}:{request.reference}",
                        context=erasure.result)
    logger.info("request %s completed", request.reference)
    return request


def fail_request(request_id: int, error: BaseException) -> None:
    """After the last retry, or a failure retrying cannot fix: the request
    goes to ``error`` and the DPO is told; they can resume it."""
    summary = f"{type(error).__name__}: {error}"[:300]
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().get(pk=request_id)
        if request.state != State.IN_PROGRESS:
            return
        request.jobs.exclude(status=RequestJob.Status.DONE).update(
            status=RequestJob.Status.FAILED, last_error=summary, lease_owner="", lease_until=None
        )
        failures = request.events.filter(action="job_failed").count()
        transition(request, State.ERROR, actor=audit.SYSTEM, action="job_failed",
                   reason=summary)
        queue_email(request, "dpo_job_failed",
                    event_key=f"dpo_job_failed:{request.reference}:{failures + 1}",
                    context={"error": summary})
    logger.error("request %s stopped by an error: %s", request.reference, type(error).__name__)


def release_lease(request_id: int) -> None:
    RequestJob.objects.filter(request_id=request_id, status=RequestJob.Status.RUNNING).update(
        lease_owner="", lease_until=None, status=RequestJob.Status.PENDING
    )


def queue_request_jobs(request: RightsRequest) -> None:
    from subjects.tasks import carry_out_request

    transaction.on_commit(lambda: carry_out_request.delay(request.pk))


def resume_stalled_jobs(*, grace: timedelta = timedelta(seconds=30)) -> int:
    """Re-queue in-progress requests that nobody is carrying out: no job
    holds a live lease, and nothing moved for ``grace`` (a job never
    claimed, a lease that ran out, or all jobs done but the request never
    completed because its worker died in between)."""
    now = timezone.now()
    quiet_since = now - grace
    stalled = (
        RightsRequest.objects.filter(state=State.IN_PROGRESS)
        .exclude(jobs__status=RequestJob.Status.RUNNING, jobs__lease_until__gte=now)
        .exclude(jobs__created_at__gte=quiet_since)
        .exclude(jobs__finished_at__gte=quiet_since)
        .distinct()
    )
    count = 0
    for request in stalled:
        from subjects.tasks import carry_out_request

        carry_out_request.delay(request.pk)
        count += 1
    return count
