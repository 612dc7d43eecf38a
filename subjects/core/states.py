"""The one state machine of a rights request.

A request starts as an e-mail verification, becomes a selfie search, and
once the person files it, a rights request (access, erasure and/or
objection) that the DPO reviews and the workers carry out.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    UNVERIFIED = "unverified", _("E-mail address not yet verified")
    VERIFIED = "verified", _("E-mail address verified")
    SEARCHING = "searching", _("Searching the database")
    IDENTITY_REVIEW = "identity_review", _("Waiting for the check that the photo is yours")
    MATCHES_READY = "matches_ready", _("Matches ready")
    FILED = "filed", _("Request received")
    AWAITING_REVIEW = "awaiting_review", _("Awaiting review by the Data Protection Officer")
    INFO_REQUESTED = "info_requested", _("Information requested from you")
    IN_PROGRESS = "in_progress", _("Being carried out")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    EXPIRED = "expired", _("Expired")
    ERROR = "error", _("Stopped by an error")


S = State

#: Allowed transitions: from -> the states it may go to.
TRANSITIONS: dict[State, frozenset[State]] = {
    S.UNVERIFIED: frozenset({S.VERIFIED, S.EXPIRED}),
    S.VERIFIED: frozenset({S.SEARCHING, S.WITHDRAWN, S.EXPIRED}),
    # A search nobody finishes (its message lost) runs out of time too.
    S.SEARCHING: frozenset({S.MATCHES_READY, S.IDENTITY_REVIEW, S.VERIFIED, S.ERROR, S.EXPIRED}),
    # An uploaded (not live) selfie: the DPO checks it is the requester's
    # before anything about matches is shown or sent.
    # The DPO may ask the person for something before deciding (and the
    # answer brings the check back). It waits for the controller, so it never
    # expires: the controller's silence cannot end a request (it escalates,
    # ``subjects.jobs.reminders``).
    S.IDENTITY_REVIEW: frozenset({S.MATCHES_READY, S.REJECTED, S.INFO_REQUESTED, S.WITHDRAWN}),
    S.MATCHES_READY: frozenset({S.FILED, S.SEARCHING, S.WITHDRAWN, S.EXPIRED}),
    S.FILED: frozenset({S.AWAITING_REVIEW, S.IN_PROGRESS, S.WITHDRAWN}),
    S.AWAITING_REVIEW: frozenset(
        {S.IN_PROGRESS, S.REJECTED, S.INFO_REQUESTED, S.WITHDRAWN, S.SEARCHING}
    ),
    # Waiting for the person: unanswered for too long, the request expires.
    S.INFO_REQUESTED: frozenset({S.AWAITING_REVIEW, S.IDENTITY_REVIEW, S.REJECTED, S.WITHDRAWN,
                                 S.EXPIRED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.ERROR}),
    # An error, before filing (a search that failed for good) or after, stays
    # with the DPO and never expires; the person may withdraw (Art. 7(3)).
    S.ERROR: frozenset({S.IN_PROGRESS, S.SEARCHING, S.REJECTED, S.WITHDRAWN}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.EXPIRED: frozenset(),
}

FINAL = frozenset(state for state, targets in TRANSITIONS.items() if not targets)
#: Before filing: the person is still looking at their matches.
BEFORE_FILING = frozenset(
    {S.UNVERIFIED, S.VERIFIED, S.SEARCHING, S.IDENTITY_REVIEW, S.MATCHES_READY}
)
#: Filed and not final: the deadline runs.
OPEN = frozenset(TRANSITIONS) - FINAL - BEFORE_FILING
#: Waiting for a decision or action of the DPO.
NEEDS_DPO = frozenset({S.AWAITING_REVIEW, S.IDENTITY_REVIEW, S.ERROR})
#: The person can still withdraw.
WITHDRAWABLE = frozenset(state for state, targets in TRANSITIONS.items() if S.WITHDRAWN in targets)


class TransitionNotAllowed(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"a request that is {current} cannot become {target}")
        self.current, self.target = current, target
