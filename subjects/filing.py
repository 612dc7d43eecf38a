"""Step 4: the person confirms their matches and files access, erasure
and/or objection; and may withdraw while the request is open."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from search.models import Face
from subjects import audit
from subjects.models import Match, RightsRequest
from subjects.notifications import queue_email
from subjects.states import OPEN, State
from subjects.transitions import transition

logger = logging.getLogger(__name__)

KINDS = ("access", "erasure", "objection")


class FilingRefused(Exception):
    def __init__(self, message, *, status: int = 400):
        super().__init__(str(message))
        self.message = message
        self.status = status


def confirmed_face_ids(request: RightsRequest) -> list[int]:
    return list(
        request.matches.filter(decision=Match.Decision.MINE, face__isnull=False)
        .values_list("face_id", flat=True)
    )


def open_kinds_elsewhere(request: RightsRequest) -> set[str]:
    """Kinds already open in another request from the same address."""
    others = RightsRequest.objects.filter(email_hash=request.email_hash, state__in=OPEN).exclude(
        pk=request.pk
    )
    return {kind for other in others for kind in other.kinds}


def keeps_template(choice: str | bool, kinds: list[str]) -> bool:
    """The person's choice about keeping their template to block
    re-collection; "auto" keeps it for an objection only."""
    if "erasure" not in kinds and "objection" not in kinds:
        return False
    if choice in ("auto", "", None):
        return "objection" in kinds
    return choice in (True, "yes", "on")


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
        if ("erasure" in kinds or "objection" in kinds) and not confirmed:
            raise FilingRefused(_("Erasure and objection apply to the faces you confirmed as "
                                  "yours. Please mark at least one face as “This is me”, or "
                                  "file an access request only."))
        already_open = open_kinds_elsewhere(request) & set(kinds)
        if already_open:
            raise FilingRefused(_("You already have an open request of this type. Please follow "
                                  "it with the link in its e-mail; you can file again once it "
                                  "is done."), status=429)
        # Restricted at once: they leave customers' search results until the
        # request is done (Art. 18(1)(d) while an objection is considered).
        restricted = Face.objects.filter(pk__in=confirmed).update(restricted=True)
        now = timezone.now()
        request = transition(
            request, State.FILED, actor=audit.REQUESTER, action="filed",
            details={"kinds": kinds, "confirmed_faces": len(confirmed),
                     "restricted_faces": restricted, "keep_template": keep},
            # Art. 12(3) counts from the first receipt: filing again after
            # a new search (asked by the DPO) does not restart the clock.
            received_at=request.received_at or now,
            keep_template=keep,
            **{kind: kind in kinds for kind in KINDS},
        )
        request = transition(request, State.AWAITING_REVIEW, actor=audit.SYSTEM,
                             action="queued_for_review")
        queue_email(request, "request_received", event_key=f"request_received:{request.reference}")
        if settings.AUTO_APPROVE_REQUESTS:
            from subjects.review import approve_request

            request = approve_request(request, actor="system:auto-approval")
        else:
            queue_email(request, "dpo_new_request",
                        event_key=f"dpo_new_request:{request.reference}")
    logger.info("request %s filed (%s)", request.reference, ",".join(kinds))
    return request


def release_faces(request: RightsRequest) -> int:
    """Lift the restriction of this request's faces, except those another
    open request still holds."""
    faces = set(confirmed_face_ids(request))
    held = set(
        Match.objects.filter(face_id__in=faces, decision=Match.Decision.MINE,
                             request__state__in=OPEN)
        .exclude(request=request).values_list("face_id", flat=True)
    )
    return Face.objects.filter(pk__in=faces - held).update(restricted=False)


def withdraw_request(request: RightsRequest) -> RightsRequest:
    from subjects.selfie import discard_review_selfie

    with transaction.atomic():
        discard_review_selfie(request)
        request = transition(
            request, State.WITHDRAWN, actor=audit.REQUESTER, action="withdrawn",
            closed_at=timezone.now(), selfie_embedding=None,
        )
        release_faces(request)
        if request.is_filed:
            queue_email(request, "request_withdrawn",
                        event_key=f"request_withdrawn:{request.reference}")
    return request


def matches_by_photo(request: RightsRequest) -> list[list[Match]]:
    """The request's matches that still exist, grouped by photo, nearest first."""
    groups: dict[int, list[Match]] = {}
    for match in request.matches.filter(face__isnull=False).order_by("distance", "pk"):
        groups.setdefault(match.photo_id_at_search, []).append(match)
    return list(groups.values())


def crop_of_match(request: RightsRequest, match_id: int) -> bytes | None:
    """A tight crop of one matched face, other faces blurred; None if the
    match is not this request's or its face is gone."""
    from search.redaction import encode, face_crop, photo_image

    match = request.matches.select_related("face__photo").filter(pk=match_id).first()
    if match is None or match.face is None or match.face.photo.synthetic:
        return None
    face = match.face
    others = [f.box for f in face.photo.faces.exclude(pk=face.pk)]
    image = photo_image(face.photo)
    return encode(face_crop(image, face.box, others=others, size=160))
