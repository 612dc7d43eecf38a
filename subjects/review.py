"""What the DPO decides about a filed request: approve, reject, extend the
deadline, ask the person for information, close as manifestly unfounded or
excessive, resume after an error, search again. Each is one transition."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from subjects.filing import release_faces
from subjects.jobs import queue_request_jobs
from subjects.models import RequestJob, RightsRequest
from subjects.notifications import queue_email
from subjects.selfie import discard_review_selfie
from subjects.states import State
from subjects.transitions import transition


class DecisionRefused(Exception):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def approve_request(request: RightsRequest, *, actor: str) -> RightsRequest:
    """Approve and start carrying out: the access package first, then the
    erasure (for an erasure or an objection)."""
    with transaction.atomic():
        request = transition(request, State.IN_PROGRESS, actor=actor, action="approved")
        order = 0
        if request.access:
            RequestJob.objects.get_or_create(request=request, kind=RequestJob.Kind.ACCESS,
                                             defaults={"order": order})
            order += 1
        if request.erasure or request.objection:
            RequestJob.objects.get_or_create(request=request, kind=RequestJob.Kind.ERASURE,
                                             defaults={"order": order})
        queue_request_jobs(request)
    return request


def confirm_requester(request: RightsRequest, *, actor: str) -> RightsRequest:
    """The uploaded selfie is the requester's (the DPO checked): show them
    their matches now, and delete the upload."""
    with transaction.atomic():
        request = transition(request, State.MATCHES_READY, actor=actor,
                             action="requester_confirmed")
        discard_review_selfie(request)
        queue_email(request, "matches_ready",
                    event_key=f"matches_ready:{request.reference}:{request.searches_run}")
    return request


def reject_request(request: RightsRequest, *, actor: str, reason: str) -> RightsRequest:
    if not reason.strip():
        raise DecisionRefused(_("A rejection needs a reason: the person is told it."))
    with transaction.atomic():
        discard_review_selfie(request)
        request = transition(request, State.REJECTED, actor=actor, action="rejected",
                             reason=reason, decision_reason=reason, closed_at=timezone.now(),
                             selfie_embedding=None, paused_since=None)
        release_faces(request)
        queue_email(request, "rejected", event_key=f"rejected:{request.reference}",
                    context={"reason": reason})
    return request


def close_as_unfounded(request: RightsRequest, *, actor: str, reason: str) -> RightsRequest:
    """Art. 12(5): a manifestly unfounded or excessive request."""
    if not reason.strip():
        raise DecisionRefused(_("Say why the request is manifestly unfounded or excessive."))
    # The reason goes to the person: in their language, not the DPO's.
    with translation.override(request.language):
        prefix = str(_("Manifestly unfounded or excessive (Art. 12(5))"))
    return reject_request(request, actor=actor, reason=f"{prefix}: {reason}")


def extend_deadline(request: RightsRequest, *, actor: str, months: int, reason: str,
                    today: dt.date | None = None) -> RightsRequest:
    """Art. 12(3): once, by up to two months, with a reason the person is
    told, and only before the first due date."""
    today = today or timezone.localdate()
    if request.extension_months:
        raise DecisionRefused(_("The deadline has already been extended once."))
    if months not in (1, 2):
        raise DecisionRefused(_("An extension is of one or two months."))
    if not reason.strip():
        raise DecisionRefused(_("An extension needs a reason: the person is told it."))
    if request.first_due_date is None or today > request.first_due_date:
        raise DecisionRefused(_("An extension must be decided before the first due date."))
    if not request.is_open:
        raise DecisionRefused(_("Only an open request can be extended."))
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().get(pk=request.pk)
        request.extension_months = months
        request.extension_reason = reason
        request.save(update_fields=["extension_months", "extension_reason"])
        from subjects.audit import record_event

        record_event(request, actor=actor, action="extended", reason=reason,
                     from_state=request.state, to_state=request.state,
                     details={"months": months, "due_date": request.due_date.isoformat()})
        queue_email(request, "extended", event_key=f"extended:{request.reference}",
                    context={"reason": reason, "months": months})
    return request


def ask_for_information(request: RightsRequest, *, actor: str, question: str) -> RightsRequest:
    if not question.strip():
        raise DecisionRefused(_("Write what you need to know from the person."))
    with transaction.atomic():
        request = transition(request, State.INFO_REQUESTED, actor=actor, action="info_requested",
                             reason=question, paused_since=timezone.now())
        queue_email(request, "info_needed",
                    event_key=f"info_needed:{request.reference}:{request.events.count()}",
                    context={"question": question})
    return request


def information_received(request: RightsRequest, *, actor: str, note: str = "") -> RightsRequest:
    """The person answered: the clock runs again, the DPO reviews."""
    paused = (timezone.now() - request.paused_since).days if request.paused_since else 0
    return transition(request, State.AWAITING_REVIEW, actor=actor, action="info_received",
                      reason=note, paused_days=request.paused_days + paused, paused_since=None)


def resume_request(request: RightsRequest, *, actor: str) -> RightsRequest:
    with transaction.atomic():
        request = transition(request, State.IN_PROGRESS, actor=actor, action="resumed")
        request.jobs.exclude(status=RequestJob.Status.DONE).update(
            status=RequestJob.Status.PENDING, lease_owner="", lease_until=None, last_error="")
        queue_request_jobs(request)
    return request
