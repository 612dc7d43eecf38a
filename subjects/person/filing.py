"""Step 4: the person confirms their matches and files access, erasure
and/or objection; and may withdraw while the request is open."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from search.models import Face
from subjects.core import audit
from subjects.core.closing import close_request
from subjects.core.events import Action
from subjects.core.faces import claimed_face_ids, confirmed_face_ids, pending_claims
from subjects.core.outbox import queue_email
from subjects.core.states import OPEN, State
from subjects.core.transitions import transition
from subjects.models import Match, RightsRequest
from subjects.review.decisions import approve_request

logger = logging.getLogger(__name__)

KINDS = ("access", "erasure", "objection")


class FilingRefused(Exception):
    def __init__(self, message, *, status: int = 400):
        super().__init__(str(message))
        self.message = message
        self.status = status


def open_kinds_elsewhere(request: RightsRequest) -> set[str]:
    """Kinds already open in another request from the same address."""
    others = RightsRequest.objects.filter(email_hash=request.email_hash, state__in=OPEN).exclude(
        pk=request.pk
    )
    return {kind for other in others for kind in other.kinds}


def keeps_template(choice: str | bool, kinds: list[str]) -> bool:
    """Whether the person explicitly chose to keep their template to block
    re-collection (for an erasure or an objection). Art. 9(2)(a): consent to
    keeping biometric data must be explicit, so only a ticked choice counts;
    nothing keeps it by default."""
    if "erasure" not in kinds and "objection" not in kinds:
        return False
    return choice is True or choice in ("yes", "on")


def file_request(request: RightsRequest, *, kinds: list[str], keep_template: str | bool,
                 decisions: dict[int, str]) -> RightsRequest:
    """File the request: record which matches are the person's, restrict
    those faces at once, start the one-month clock, send the receipt."""
    kinds = [k for k in KINDS if k in set(kinds)]
    keep = keeps_template(keep_template, kinds)
    if not kinds:
        raise FilingRefused(_("Please choose at least one request: access, erasure or "
                              "objection."))
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != State.MATCHES_READY:
            raise FilingRefused(_("This request has already been filed or closed."), status=409)
        matches = {m.pk: m for m in request.matches.all()}
        unknown = set(decisions) - set(matches)
        if unknown:
            raise FilingRefused(_("Some of the faces you answered about are not part of this "
                                  "request. Please reload the page and try again."))
        for match_id, decision in decisions.items():
            if decision not in (Match.Decision.MINE, Match.Decision.NOT_MINE):
                raise FilingRefused(_("Please answer “This is me” or “Not me” for each face."))
            matches[match_id].decision = decision
        Match.objects.bulk_update(list(matches.values()), ["decision"])
        confirmed = confirmed_face_ids(request)
        claims = pending_claims(request).count()
        # An objection stands without a face found: it stops the collection
        # of their face from now on (with the template, if they keep it).
        if "erasure" in kinds and not claimed_face_ids(request):
            raise FilingRefused(_("Erasure applies to the faces you confirmed as yours. Please "
                                  "mark at least one face as “This is me”, or file an access "
                                  "request or an objection."))
        already_open = open_kinds_elsewhere(request) & set(kinds)
        if already_open:
            raise FilingRefused(_("You already have an open request of this type. Please follow "
                                  "it with the link in its e-mail; you can file again once it "
                                  "is done."), status=429)
        # Restricted at once: they leave customers' search results until the
        # request is done (Art. 18(1)(d) while an objection is considered).
        # A ``possible`` face the person claims waits for the DPO's
        # confirmation: a claim alone restricts nothing.
        restricted = Face.objects.filter(pk__in=confirmed).update(restricted=True)
        now = timezone.now()
        request = transition(
            request, State.FILED, actor=audit.REQUESTER, action=Action.FILED,
            details={"kinds": kinds, "confirmed_faces": len(confirmed),
                     "restricted_faces": restricted, "keep_template": keep,
                     "claims_for_the_dpo": claims},
            # Art. 12(3) counts from the first receipt: filing again after
            # a new search (asked by the DPO) does not restart the clock.
            received_at=request.received_at or now,
            keep_template=keep,
            **{kind: kind in kinds for kind in KINDS},
        )
        request = transition(request, State.AWAITING_REVIEW, actor=audit.SYSTEM,
                             action=Action.QUEUED_FOR_REVIEW)
        queue_email(request, "request_received", event_key=f"request_received:{request.reference}")
        # Claims on ``possible`` faces always wait for the DPO.
        if settings.AUTO_APPROVE_REQUESTS and not claims:
            request = approve_request(request, actor="system:auto-approval")
        else:
            queue_email(request, "dpo_new_request",
                        event_key=f"dpo_new_request:{request.reference}")
    logger.info("request %s filed (%s)", request.reference, ",".join(kinds))
    return request


def withdraw_request(request: RightsRequest) -> RightsRequest:
    with transaction.atomic():
        request = close_request(request, State.WITHDRAWN, actor=audit.REQUESTER,
                                action=Action.WITHDRAWN)
        if request.is_filed:
            queue_email(request, "request_withdrawn",
                        event_key=f"request_withdrawn:{request.reference}")
    return request
