"""Carrying out an approved request, exactly once, even when workers die.

A request's jobs (access package first, then erasure) run in order, each in
recorded steps (``subjects.jobs.steps``). A lease that runs out (its worker
died) can be taken over, and ``resume_stalled_jobs`` (Celery beat, every
minute) re-queues such requests in case the broker lost the message with
the worker.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.durations import observe
from subjects.core import audit
from subjects.core.closing import close_request
from subjects.core.events import Action
from subjects.core.outbox import queue_email
from subjects.core.queueing import CARRY_OUT_REQUEST, send_now
from subjects.core.states import State, TransitionNotAllowed
from subjects.core.transitions import transition
from subjects.jobs.access_package import run_access_job
from subjects.jobs.erasure import run_erasure_job
from subjects.jobs.reapply import erasure_record, journal_completed
from subjects.jobs.receipts import issue_receipt
from subjects.jobs.steps import LeaseHeld, checkpoint, claim, lease_kept
from subjects.models import RequestJob, RightsRequest
from subjects.review.decisions import approved_rights

logger = logging.getLogger(__name__)

RUNNERS = {RequestJob.Kind.ACCESS: run_access_job, RequestJob.Kind.ERASURE: run_erasure_job}


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
        with lease_kept(job, owner):
            RUNNERS[job.kind](job)
        finished = timezone.now()
        RequestJob.objects.filter(pk=job.pk).update(
            status=RequestJob.Status.DONE, finished_at=finished, lease_owner="",
            lease_until=None, last_error="",
        )
        observe("request_job", job.kind, (finished - job.created_at).total_seconds())
        checkpoint(f"{job.kind}:done", request.reference)
    try:
        complete_request(request)
    except TransitionNotAllowed:
        return "completed elsewhere"
    return "completed"


def complete_request(request: RightsRequest) -> RightsRequest:
    jobs = {job.kind: job for job in request.jobs.all()}
    erasure = jobs.get(RequestJob.Kind.ERASURE)
    details = {kind: job.result for kind, job in jobs.items()}
    if erasure is not None:
        details["erased"] = erasure_record(erasure)
    with transaction.atomic():
        request = close_request(request, State.COMPLETED, actor=audit.SYSTEM,
                                action=Action.COMPLETED, details=details)
        if erasure is not None:
            issue_receipt(request, erasure)
            # Before the commit: a completed erasure is never missing from
            # the journal that outlives a database restore.
            journal_completed(request.events.filter(action=Action.COMPLETED).latest("pk"))
            # The objection's e-mail only where the objection was approved
            # (an erasure approved beside a refused objection is an erasure).
            kind = "objection_done" if "objection" in approved_rights(request) \
                else "erasure_done"
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
        failures = request.events.filter(action=Action.JOB_FAILED).count()
        transition(request, State.ERROR, actor=audit.SYSTEM, action=Action.JOB_FAILED,
                   reason=summary)
        queue_email(request, "dpo_job_failed",
                    event_key=f"dpo_job_failed:{request.reference}:{failures + 1}",
                    context={"error": summary})
    logger.error("request %s stopped by an error: %s", request.reference, type(error).__name__)


def release_lease(request_id: int) -> None:
    RequestJob.objects.filter(request_id=request_id, status=RequestJob.Status.RUNNING).update(
        lease_owner="", lease_until=None, status=RequestJob.Status.PENDING
    )


def resume_stalled_jobs(*, grace: timedelta | None = None) -> int:
    """Re-queue in-progress requests that nobody is carrying out: no job
    holds a live lease, and nothing moved for ``grace`` (two sweeps by
    default: a job never claimed, a lease that ran out, or all jobs done but
    the request never completed because its worker died in between)."""
    if grace is None:
        grace = timedelta(seconds=2 * settings.RECOVERY_SWEEP_SECONDS)
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
        send_now(CARRY_OUT_REQUEST, request.pk)
        count += 1
    return count
