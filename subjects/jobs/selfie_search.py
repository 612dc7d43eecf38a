"""Step 3, on the ``search`` workers: the selfie is embedded and searched,
and kept privately for the DPO; its matches are kept for the person to
confirm, or go to the DPO's identity check first. A search whose task was
lost is queued again by a sweep."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from portal.durations import observe
from search.backends import get_backend
from search.matching import find_candidates
from subjects.core import audit
from subjects.core.events import Action
from subjects.core.faces import refresh_matches, shown_at_once
from subjects.core.outbox import queue_email
from subjects.core.queueing import SELFIE_SEARCH, send_now
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.jobs.steps import TRANSIENT, checkpoint
from subjects.models import RightsRequest
from subjects.person.selfie import SelfieRejected, the_one_face

logger = logging.getLogger(__name__)


#: The advisory lock's first key: one search of a request at a time. A lock
#: held by a session lives as long as the worker's connection, so a worker
#: that dies lets go of it at once.
SEARCH_LOCK = 0x5E1F1E


def run_selfie_search(request_id: int, selfie_name: str) -> str:
    """Embed the selfie, search, keep the matches. Safe to run again after a
    crash at any point: the embedding is saved before the file is handed to
    the DPO's review, and a run finds its earlier work. Two runs of one
    request (a task queued again by the sweep) never overlap."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [SEARCH_LOCK, lock_key(request_id)])
        if not cursor.fetchone()[0]:
            return "already running"
    try:
        return search_once(request_id, selfie_name)
    finally:
        with contextlib.suppress(*TRANSIENT), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)",
                           [SEARCH_LOCK, lock_key(request_id)])


def lock_key(request_id: int) -> int:
    return request_id % 2**31


def search_once(request_id: int, selfie_name: str) -> str:
    began = time.monotonic()
    request = RightsRequest.objects.get(pk=request_id)
    if request.state != State.SEARCHING:
        if selfie_name and selfie_name != request.selfie_review_file:
            default_storage.delete(selfie_name)
        return "not searching"
    backend = get_backend()
    if request.selfie_embedding is None:
        if not selfie_name or not default_storage.exists(selfie_name):
            transition(request, State.VERIFIED, actor=audit.SYSTEM, action=Action.SELFIE_LOST,
                       reason="the selfie was not found; the person is asked again",
                       selfie_pending_file="")
            return "selfie lost"
        with default_storage.open(selfie_name, "rb") as handle:
            data = handle.read()
        try:
            face = the_one_face(data)
        except SelfieRejected as exc:
            default_storage.delete(selfie_name)
            transition(request, State.VERIFIED, actor=audit.SYSTEM, action=Action.SELFIE_REJECTED,
                       reason=exc.code, selfie_pending_file="")
            return exc.code
        RightsRequest.objects.filter(pk=request.pk).update(
            selfie_embedding=face.embedding, selfie_model=backend.name
        )
        request.refresh_from_db()
    checkpoint("search:embedded", request.reference)
    # Kept privately for the DPO: an upload until they have checked it is
    # the requester; the live camera picture until they decide the filed
    # request, to compare the matches with. Deleted then (or on closing).
    # (No name: queued again by the sweep after the file was handed over.)
    if selfie_name:
        RightsRequest.objects.filter(pk=request.pk).update(selfie_review_file=selfie_name,
                                                           selfie_pending_file="")
    candidates = find_candidates(request.selfie_embedding, model=request.selfie_model,
                                 include_restricted=True)
    with transaction.atomic():
        found = refresh_matches(request, candidates)
        # Only a live selfie gets the instant preview; an upload (or a face
        # others searched lately) waits for the DPO to confirm the
        # requester, and nothing about matches is shown or sent before.
        preview, others = shown_at_once(request, candidates)
        request = transition(
            request, State.MATCHES_READY if preview else State.IDENTITY_REVIEW,
            actor=audit.SYSTEM, action=Action.SEARCH_DONE,
            details={**found, "model": request.selfie_model, "live": request.selfie_live,
                     "searched_by_others": len(others)},
            searches_run=request.searches_run + 1,
        )
        if preview:
            queue_email(request, "matches_ready",
                        event_key=f"matches_ready:{request.reference}:{request.searches_run}")
        else:
            queue_email(request, "dpo_identity_check",
                        event_key=f"dpo_identity_check:{request.reference}:"
                                  f"{request.searches_run}")
    observe("selfie_search", "", time.monotonic() - began)
    checkpoint("search:done", request.reference)
    logger.info("request %s: search done, %d candidates", request.reference, len(candidates))
    return "done"


def fail_search(request_id: int, selfie_name: str, error: BaseException) -> None:
    """A search that failed for good (its last retry, or an error no retry
    fixes): the selfie file goes at once, the request goes to ``error`` and
    the DPO is told. Whatever template it had is deleted when the request
    closes or expires."""
    summary = type(error).__name__  # never the message: it may name the file
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.state != State.SEARCHING:
            if selfie_name and (request is None or selfie_name != request.selfie_review_file):
                default_storage.delete(selfie_name)
            return
        if request.selfie_embedding is None:
            # Nothing to search again with: the picture serves no one.
            if selfie_name:
                default_storage.delete(selfie_name)
        elif selfie_name:
            # A search again (the DPO's only way on) goes through the
            # identity check, which compares with this picture: kept
            # privately for the DPO, like any selfie under review, and
            # deleted with the request's other files when it closes.
            RightsRequest.objects.filter(pk=request.pk).update(selfie_review_file=selfie_name)
        failures = request.events.filter(action=Action.JOB_FAILED).count()
        transition(request, State.ERROR, actor=audit.SYSTEM, action=Action.JOB_FAILED,
                   reason=f"the search failed: {summary}", selfie_pending_file="")
        queue_email(request, "dpo_job_failed",
                    event_key=f"dpo_job_failed:{request.reference}:{failures + 1}",
                    context={"error": f"the selfie search failed ({summary})"})
    logger.error("request %s: the search failed for good (%s)", request.reference, summary)


def resume_stalled_searches(*, grace: timedelta | None = None) -> int:
    """Queue again the searches whose task was lost: requests still
    ``searching`` for longer than ``grace`` (two sweeps by default) whose
    search no worker is running."""
    if grace is None:
        grace = timedelta(seconds=2 * settings.RECOVERY_SWEEP_SECONDS)
    stalled = (
        RightsRequest.objects.filter(state=State.SEARCHING)
        .annotate(last_event=Max("events__at"))
        .filter(last_event__lt=timezone.now() - grace)
        .values_list("pk", "selfie_pending_file")
    )
    count = 0
    for request_id, selfie_name in stalled:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = %s AND objid = %s AND objsubid = 2)",
                [SEARCH_LOCK, lock_key(request_id)])
            if cursor.fetchone()[0]:
                continue  # a worker is on it
        send_now(SELFIE_SEARCH, request_id, selfie_name)
        count += 1
    return count
