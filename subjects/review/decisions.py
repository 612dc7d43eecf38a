"""What the DPO decides about a request: confirm the requester of an
uploaded selfie, approve, reject, extend the deadline, ask the person for
information, close as manifestly unfounded or excessive, resume after an
error, search again. Each is one plain function and one transition."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from search.backends import get_backend
from search.matching import find_candidates
from search.models import Face
from subjects.core import events
from subjects.core.closing import close_request, discard_review_selfie
from subjects.core.deadlines import EXTENSION_GROUNDS, extension_refusal, paused_days_so_far
from subjects.core.events import Action
from subjects.core.faces import confirmed_face_ids, pending_claims, refresh_matches, shown_at_once
from subjects.core.notices import tell_recipients_of_restriction
from subjects.core.outbox import queue_email
from subjects.core.queueing import CARRY_OUT_REQUEST, queue_on_commit
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.models import Match, RequestJob, RightDecision, RightsRequest, new_secret

logger = logging.getLogger(__name__)


class DecisionRefused(Exception):
    """A decision the request cannot take now, or input it cannot take.
    ``status`` is 409 for the first, 400 for the second (and 404 for an
    action that does not exist)."""

    def __init__(self, message, *, status: int = 400):
        super().__init__(str(message))
        self.message = message
        self.status = status


def queue_request_jobs(request: RightsRequest) -> None:
    """The workers carry the request out once this transaction commits."""
    queue_on_commit(CARRY_OUT_REQUEST, request.pk)


def approve_request(request: RightsRequest, *, actor: str,
                    refused: dict[str, tuple[str, str]] | None = None) -> RightsRequest:
    """Approve and start carrying out: the access package first, then the
    erasure (for an erasure or an objection). Claims on ``possible`` faces
    are decided first (:func:`decide_claims`); the camera picture kept for
    the DPO goes with this decision.

    ``refused``: the rights refused (right -> its ground and the reason the
    person reads); every other right asked for is approved, and only those
    are carried out. The person is told each right's outcome at once."""
    refused = refused or {}
    approved = [kind for kind in request.kinds if kind not in refused]
    if not approved:
        raise DecisionRefused(_("Approve at least one right, or reject the request."))
    if pending_claims(request).exists():
        raise DecisionRefused(_("First decide which of the faces the person claimed are "
                                "theirs."), status=409)
    with transaction.atomic():
        discard_reference_frame(request, actor=actor)
        request = transition(
            request, State.IN_PROGRESS, actor=actor, action=Action.APPROVED,
            details={"approved": approved,
                     **({"refused": {kind: ground for kind, (ground, _r) in refused.items()}}
                        if refused else {})})
        record_right_decisions(request, actor=actor, approved=approved, refused=refused)
        order = 0
        if "access" in approved:
            RequestJob.objects.get_or_create(request=request, kind=RequestJob.Kind.ACCESS,
                                             defaults={"order": order})
            order += 1
        if "erasure" in approved or "objection" in approved:
            RequestJob.objects.get_or_create(request=request, kind=RequestJob.Kind.ERASURE,
                                             defaults={"order": order})
        if refused:
            queue_email(request, "rights_decided", event_key=f"rights_decided:{request.reference}",
                        context={"outcomes": outcomes_of(request),
                                 # Art. 18(3): told before the lifting at completion.
                                 "restriction_lifts_later": bool(
                                     {"erasure", "objection"} & set(refused))
                                 and bool(confirmed_face_ids(request))})
        queue_request_jobs(request)
    return request


def record_right_decisions(request: RightsRequest, *, actor: str, approved=(),
                           refused: dict[str, tuple[str, str]] | None = None) -> None:
    """One row per right asked for: approved, or refused on its ground."""
    now = timezone.now()
    rows = [RightDecision(request=request, right=kind, outcome=RightDecision.Outcome.APPROVED,
                          decided_at=now, decided_by=actor) for kind in approved]
    rows += [RightDecision(request=request, right=kind, outcome=RightDecision.Outcome.REFUSED,
                           ground=ground, reason=reason, decided_at=now, decided_by=actor)
             for kind, (ground, reason) in (refused or {}).items()]
    RightDecision.objects.bulk_create(rows, ignore_conflicts=True)


def outcomes_of(request: RightsRequest) -> list[dict]:
    """Each right's outcome as the person's e-mail lists it (what the
    outbox stores: right, outcome, reason)."""
    return [{"right": row.right, "outcome": row.outcome, "reason": row.reason}
            for row in request.right_decisions.order_by("pk")]


def approved_rights(request: RightsRequest) -> set[str]:
    """The rights the DPO approved (all those asked for, on a request decided
    before decisions were per right)."""
    rows = dict(request.right_decisions.values_list("right", "outcome"))
    if not rows:
        return set(request.kinds)
    return {right for right, outcome in rows.items()
            if outcome == RightDecision.Outcome.APPROVED}


def discard_reference_frame(request: RightsRequest, *, actor: str) -> None:
    """Delete the live camera picture kept for the DPO's decision (audited)."""
    if request.selfie_review_file and request.selfie_live:
        discard_review_selfie(request)
        events.reference_frame_deleted(request, actor=actor)


def decide_claims(request: RightsRequest, *, actor: str, match_ids: list[int]) -> RightsRequest:
    """The DPO confirms which ``possible`` faces the person claimed are
    theirs (``match_ids``) and declines the others: the confirmed ones are
    restricted at once and count from now on (package, erasure)."""
    with transaction.atomic():
        pending = pending_claims(request).select_for_update()
        claims = {m.pk: m for m in pending}
        if not claims:
            raise DecisionRefused(_("No claimed face is waiting for a decision."), status=409)
        unknown = set(match_ids) - set(claims)
        if unknown:
            raise DecisionRefused(_("Some of the chosen faces are not claims of this request."))
        now = timezone.now()
        confirmed = [claims[pk] for pk in match_ids]
        Match.objects.filter(pk__in=[m.pk for m in confirmed]).update(
            dpo_decision=Match.DpoDecision.CONFIRMED, dpo_decided_at=now, dpo_decided_by=actor)
        Match.objects.filter(pk__in=set(claims) - set(match_ids)).update(
            dpo_decision=Match.DpoDecision.DECLINED, dpo_decided_at=now, dpo_decided_by=actor)
        newly = list(Face.objects.filter(pk__in=[m.face_id for m in confirmed], restricted=False)
                     .values_list("pk", flat=True))
        Face.objects.filter(pk__in=[m.face_id for m in confirmed]).update(restricted=True)
        tell_recipients_of_restriction(request, newly, lifted=False)
        events.claims_confirmed(request, actor=actor, confirmed=len(confirmed),
                                declined=len(claims) - len(confirmed))
    return request


def confirm_requester(request: RightsRequest, *, actor: str) -> RightsRequest:
    """The selfie is the requester's (the DPO checked): show them their
    matches now, and delete an upload (a live picture stays until the DPO
    decides the filed request)."""
    with transaction.atomic():
        request = transition(request, State.MATCHES_READY, actor=actor,
                             action=Action.REQUESTER_CONFIRMED)
        if not request.selfie_live:
            discard_review_selfie(request)
        queue_email(request, "matches_ready",
                    event_key=f"matches_ready:{request.reference}:{request.searches_run}")
    return request


def reject_request(request: RightsRequest, *, actor: str, reason: str,
                   ground: str = "other") -> RightsRequest:
    """``ground``: the code the transparency page counts the rejection under."""
    if not reason.strip():
        raise DecisionRefused(_("A rejection needs a reason: the person is told it."))
    # Art. 18(3): faces restricted for this request stay so for a while,
    # and the rejection's e-mail says until when, before it is lifted.
    lifts_at = None
    if confirmed_face_ids(request):
        lifts_at = timezone.now() + dt.timedelta(days=settings.RESTRICTION_LIFT_NOTICE_DAYS)
    with transaction.atomic():
        record_right_decisions(request, actor=actor,
                               refused={kind: (ground, reason) for kind in request.kinds})
        discard_reference_frame(request, actor=actor)
        request = close_request(request, State.REJECTED, actor=actor, action=Action.REJECTED,
                                reason=reason, decision_reason=reason, paused_since=None,
                                rejection_ground=ground, details={"ground": ground},
                                restriction_lifts_at=lifts_at)
        queue_email(request, "rejected", event_key=f"rejected:{request.reference}",
                    context={"reason": reason, **({"restriction_lifts_on": timezone.localdate(
                        lifts_at).isoformat()} if lifts_at else {})})
    return request


def close_as_unfounded(request: RightsRequest, *, actor: str, reason: str) -> RightsRequest:
    """Art. 12(5): a manifestly unfounded or excessive request."""
    if not reason.strip():
        raise DecisionRefused(_("Say why the request is manifestly unfounded or excessive."))
    # The reason goes to the person: in their language, not the DPO's.
    with translation.override(request.language):
        prefix = str(_("Manifestly unfounded or excessive (Art. 12(5))"))
    return reject_request(request, actor=actor, reason=f"{prefix}: {reason}", ground="unfounded")


def extend_deadline(request: RightsRequest, *, actor: str, months: int, reason: str,
                    ground: str, today: dt.date | None = None) -> RightsRequest:
    """Art. 12(3): once, by up to two months, on one of its grounds (the
    complexity or the number of requests) explained in the DPO's words, both
    told to the person, and only before the first due date
    (``deadlines.extension_refusal``)."""
    if request.extension_months:
        raise DecisionRefused(extension_refusal(request, today))
    if months not in (1, 2):
        raise DecisionRefused(_("An extension is of one or two months."))
    if not reason.strip():
        raise DecisionRefused(_("An extension needs a reason: the person is told it."))
    if ground not in EXTENSION_GROUNDS:
        raise DecisionRefused(_("An extension needs one of the grounds Art. 12(3) allows: "
                                "choose it from the list."))
    refusal = extension_refusal(request, today)
    if refusal:
        raise DecisionRefused(refusal)
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().get(pk=request.pk)
        request.extension_months = months
        request.extension_reason = reason
        request.extension_ground = ground
        request.save(update_fields=["extension_months", "extension_reason", "extension_ground"])
        events.deadline_extended(request, actor=actor, months=months, reason=reason)
        queue_email(request, "extended", event_key=f"extended:{request.reference}",
                    context={"reason": reason, "months": months, "ground": ground})
    return request


def ask_for_information(request: RightsRequest, *, actor: str, question: str,
                        photo: bool = False) -> RightsRequest:
    """``photo``: the person may answer with a photo too (their status page
    then offers to send one)."""
    if not question.strip():
        raise DecisionRefused(_("Write what you need to know from the person."))
    # Art. 12(3)'s clock runs only once the request is filed: an identity
    # check before that has no time limit to pause.
    filed = request.received_at is not None
    with transaction.atomic():
        request = transition(request, State.INFO_REQUESTED, actor=actor,
                             action=Action.INFO_REQUESTED, reason=question,
                             details={"photo": True} if photo else None,
                             paused_since=timezone.now() if filed else None)
        queue_email(request, "info_needed",
                    event_key=f"info_needed:{request.reference}:{request.events.count()}",
                    context={"question": question, "paused": filed})
    return request


def information_received(request: RightsRequest, *, actor: str, note: str = "") -> RightsRequest:
    """The person answered: the clock runs again, the DPO reviews (or, for
    a request not yet filed, goes back to its identity check)."""
    back = State.AWAITING_REVIEW if request.received_at is not None else State.IDENTITY_REVIEW
    return transition(request, back, actor=actor, action=Action.INFO_RECEIVED,
                      reason=note, paused_since=None,
                      paused_days=paused_days_so_far(request.paused_days, request.paused_since))


def resume_request(request: RightsRequest, *, actor: str) -> RightsRequest:
    with transaction.atomic():
        request = transition(request, State.IN_PROGRESS, actor=actor, action=Action.RESUMED)
        request.jobs.exclude(status=RequestJob.Status.DONE).update(
            status=RequestJob.Status.PENDING, lease_owner="", lease_until=None, last_error="")
        queue_request_jobs(request)
    return request


def search_again(request: RightsRequest, *, actor: str) -> RightsRequest:
    """Run the person's search again from their stored face template: new
    faces ingested since, or a re-embedded index, may match now. The new
    matches pass the same gate as the first search
    (``faces.shown_at_once``): the person confirms them and files again
    (their earlier answers kept) only when their selfie is known to be
    theirs and no one else searched those faces lately; otherwise the DPO's
    identity check comes first, with the picture kept for it."""
    if request.selfie_embedding is None:
        raise DecisionRefused(_("This request has no face template left to search with."))
    backend = get_backend(request.selfie_model or None)
    with transaction.atomic():
        request = transition(request, State.SEARCHING, actor=actor, action=Action.SEARCH_AGAIN,
                             paused_since=None)
        candidates = find_candidates(request.selfie_embedding, model=backend.name,
                                     include_restricted=True)
        found = refresh_matches(request, candidates)
        preview, others = shown_at_once(request, candidates)
        request = transition(
            request, State.MATCHES_READY if preview else State.IDENTITY_REVIEW,
            actor=actor, action=Action.SEARCH_DONE,
            details={**found, "model": backend.name, "by": "dpo", "live": request.selfie_live,
                     "searched_by_others": len(others)},
            searches_run=request.searches_run + 1,
        )
        if preview:
            queue_email(request, "matches_ready",
                        event_key=f"matches_ready:{request.reference}:{request.searches_run}",
                        context={"count": len(candidates)})
        else:
            queue_email(request, "dpo_identity_check",
                        event_key=f"dpo_identity_check:{request.reference}:"
                                  f"{request.searches_run}")
    logger.info("request %s searched again: %d candidates", request.reference, len(candidates))
    return request


def renew_links(request: RightsRequest, *, actor: str) -> RightsRequest:
    """A request link is known to have leaked: a new access salt cuts every
    link made so far (the status link of every e-mail, the pages opened by
    it), and the person is e-mailed the new status link. The browsers that
    confirmed the address stay bound; a used download link dies anyway."""
    if not request.email or request.verified_at is None:
        raise DecisionRefused(_("This request has no confirmed address to send a new link to."))
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().get(pk=request.pk)
        RightsRequest.objects.filter(pk=request.pk).update(access_salt=new_secret())
        request.refresh_from_db()
        renewed = events.links_renewed(request, actor=actor)
        queue_email(request, "links_renewed",
                    event_key=f"links_renewed:{request.reference}:{renewed.pk}")
    logger.info("request %s: links renewed", request.reference)
    return request
