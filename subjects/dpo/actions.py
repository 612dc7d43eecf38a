"""What the DPO can do to a request, and when.

:func:`available_actions` is the one place that says which actions a
request offers now; the dashboard shows only those, and :func:`perform`
refuses anything else, so the API and the pages cannot disagree. The
decisions themselves are the plain functions of ``subjects.review``, plus
:func:`search_again` here.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from search.backends import get_backend
from search.matching import find_candidates
from subjects import review
from subjects.models import Match, RightsRequest
from subjects.notifications import queue_email
from subjects.states import State, TransitionNotAllowed
from subjects.transitions import transition

logger = logging.getLogger(__name__)

APPROVE = "approve"
REJECT = "reject"
EXTEND = "extend"
ASK_FOR_INFORMATION = "ask_for_information"
INFORMATION_RECEIVED = "information_received"
CLOSE_UNFOUNDED = "close_unfounded"
RESUME = "resume"
SEARCH_AGAIN = "search_again"
CONFIRM_REQUESTER = "confirm_requester"

# An uploaded (not live) selfie waits for the DPO to check it shows the
# requester before any match is shown to them (subjects.liveness).
IDENTITY_REVIEW = "identity_review"

#: Every action, in the order the request page lists them, with its label.
LABELS = {
    CONFIRM_REQUESTER: _("Confirm the photo shows the requester"),
    APPROVE: _("Approve"),
    REJECT: _("Reject"),
    EXTEND: _("Extend the deadline"),
    ASK_FOR_INFORMATION: _("Ask for information"),
    INFORMATION_RECEIVED: _("Information received"),
    CLOSE_UNFOUNDED: _("Close as manifestly unfounded or excessive"),
    RESUME: _("Resume after the error"),
    SEARCH_AGAIN: _("Search again"),
}

#: Reasons a DPO starts a rejection from; the free text follows. Each is
#: written to the person, in their language.
REJECTION_REASONS = {
    "identity": _("We could not establish that the faces in this request are yours."),
    "not_found": _("The faces you confirmed are not in our database any more."),
    "legal_obligation": _("We must keep this data to comply with a legal obligation "
                          "(Art. 17(3)(b) GDPR)."),
    "legal_claims": _("We need this data to establish, exercise or defend legal claims "
                      "(Art. 17(3)(e) GDPR)."),
    "compelling_grounds": _("We have compelling legitimate grounds for the processing which "
                            "override your interests, rights and freedoms (Art. 21(1) GDPR)."),
    "other": _("Other reason (write it below)"),
}


class ActionRefused(Exception):
    """An action this request does not offer now, or input it cannot take.
    ``status`` is 409 for the first, 400 for the second."""

    def __init__(self, message, *, status: int = 400):
        super().__init__(str(message))
        self.message = message
        self.status = status


def can_extend(request: RightsRequest, today: dt.date | None = None) -> bool:
    # Art. 12(3): once, and decided within the first month.
    today = today or timezone.localdate()
    first_due = request.first_due_date
    return (request.is_open and not request.extension_months and first_due is not None
            and today <= first_due)


def was_approved(request: RightsRequest) -> bool:
    return request.jobs.exists()


def available_actions(request: RightsRequest, *, today: dt.date | None = None) -> list[str]:
    """The actions the request offers now, in display order."""
    state = request.state
    offered: set[str] = set()
    if state == IDENTITY_REVIEW:
        offered |= {CONFIRM_REQUESTER, REJECT}
    elif state == State.AWAITING_REVIEW:
        offered |= {APPROVE, REJECT, ASK_FOR_INFORMATION, CLOSE_UNFOUNDED}
        if request.selfie_embedding is not None:
            offered.add(SEARCH_AGAIN)
    elif state == State.INFO_REQUESTED:
        offered |= {INFORMATION_RECEIVED, REJECT, CLOSE_UNFOUNDED}
    elif state == State.ERROR:
        if was_approved(request):
            # A job failed: carry on from its last finished step.
            offered.add(RESUME)
        elif request.selfie_embedding is not None:
            offered.add(SEARCH_AGAIN)
        if request.is_filed:
            offered.add(REJECT)
    if can_extend(request, today):
        offered.add(EXTEND)
    return [name for name in LABELS if name in offered]


def rejection_reason(request: RightsRequest, template: str, text: str) -> str:
    """The reason the person reads: the chosen template in their language,
    then the DPO's own words."""
    text = (text or "").strip()
    if template and template not in REJECTION_REASONS:
        raise ActionRefused(_("Choose one of the listed reasons."))
    if template in ("", "other"):
        if not text:
            raise ActionRefused(_("A rejection needs a reason: the person is told it."))
        return text
    with translation.override(request.language):
        sentence = str(REJECTION_REASONS[template])
    return f"{sentence}\n\n{text}" if text else sentence


def search_again(request: RightsRequest, *, actor: str) -> RightsRequest:
    """Run the person's search again from their stored face template (the
    selfie itself is long gone): new faces ingested since, or a re-embedded
    index, may match now. The request goes back to the person, who confirms
    the new matches and files again; their earlier answers are kept."""
    if request.selfie_embedding is None:
        raise ActionRefused(_("This request has no face template left to search with."))
    backend = get_backend(request.selfie_model or None)
    with transaction.atomic():
        request = transition(request, State.SEARCHING, actor=actor, action="search_again",
                             paused_since=None)
        candidates = find_candidates(request.selfie_embedding, model=backend.name,
                                     include_restricted=True)
        answered = set(request.matches.exclude(decision="").values_list("face_id", flat=True))
        request.matches.filter(decision="").delete()
        Match.objects.bulk_create([
            Match(request=request, face_id=c.face_id, photo_id_at_search=c.photo_id,
                  distance=c.distance, tier=str(c.tier))
            for c in candidates if c.face_id not in answered
        ])
        request = transition(
            request, State.MATCHES_READY, actor=actor, action="search_done",
            details={"matches": sum(1 for c in candidates if c.tier == "match"),
                     "possible": sum(1 for c in candidates if c.tier == "possible"),
                     "model": backend.name, "by": "dpo"},
            searches_run=request.searches_run + 1,
        )
        queue_email(request, "matches_ready",
                    event_key=f"matches_ready:{request.reference}:{request.searches_run}",
                    context={"count": len(candidates)})
    logger.info("request %s searched again: %d candidates", request.reference, len(candidates))
    return request


def _text(data: dict, name: str) -> str:
    value = data.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def perform(request: RightsRequest, action: str, *, actor: str, data: dict | None = None,
            today: dt.date | None = None) -> RightsRequest:
    """Carry out one DPO action that the request offers now."""
    data = data or {}
    if action not in LABELS:
        raise ActionRefused(_("There is no such action."), status=404)
    if action not in available_actions(request, today=today):
        raise ActionRefused(
            _("This request (%(state)s) does not offer “%(action)s” now.")
            % {"state": request.get_state_display(), "action": LABELS[action]},
            status=409,
        )
    try:
        if action == CONFIRM_REQUESTER:
            return review.confirm_requester(request, actor=actor)
        if action == APPROVE:
            return review.approve_request(request, actor=actor)
        if action == REJECT:
            reason = rejection_reason(request, _text(data, "reason_template"),
                                      _text(data, "reason"))
            return review.reject_request(request, actor=actor, reason=reason)
        if action == CLOSE_UNFOUNDED:
            return review.close_as_unfounded(request, actor=actor, reason=_text(data, "reason"))
        if action == EXTEND:
            try:
                months = int(data.get("months", 0))
            except (TypeError, ValueError):
                months = 0
            return review.extend_deadline(request, actor=actor, months=months,
                                          reason=_text(data, "reason"), today=today)
        if action == ASK_FOR_INFORMATION:
            return review.ask_for_information(request, actor=actor,
                                              question=_text(data, "question"))
        if action == INFORMATION_RECEIVED:
            return review.information_received(request, actor=actor, note=_text(data, "note"))
        if action == RESUME:
            return review.resume_request(request, actor=actor)
        return search_again(request, actor=actor)
    except review.DecisionRefused as refused:
        raise ActionRefused(refused.message) from None
    except TransitionNotAllowed:
        # Someone else decided first: the state moved under us.
        request.refresh_from_db()
        raise ActionRefused(
            gettext("The request changed meanwhile (it is now %(state)s); reload it and "
                    "decide again.") % {"state": request.get_state_display()},
            status=409,
        ) from None
