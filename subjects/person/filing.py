"""Step 4: the person confirms their matches and files access, erasure
and/or objection; and may withdraw while the request is open."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from search.imaging import ImageError, load_image
from search.models import Face
from search.redaction import encode
from subjects.core import audit
from subjects.core.closing import close_request, discard_files
from subjects.core.events import Action
from subjects.core.faces import claimed_face_ids, confirmed_face_ids, pending_claims
from subjects.core.notices import tell_recipients_of_restriction
from subjects.core.outbox import queue_email
from subjects.core.states import OPEN, State
from subjects.core.transitions import transition
from subjects.models import Match, RightsRequest
from subjects.person.selfie import SELFIE_DIR
from subjects.review.decisions import approve_request, information_received

logger = logging.getLogger(__name__)

KINDS = ("access", "erasure", "objection")

ERASURE_NEEDS_A_FACE = _("Erasure applies to the faces you confirmed as yours. Please mark at "
                         "least one face as “This is me”, or file an access request or an "
                         "objection.")

ALREADY_OPEN = _("You already have an open request of this type. Please follow it with the link "
                 "in its e-mail; you can file again once it is done.")


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


def check_every_face_answered(request: RightsRequest, decisions: dict[int, str]) -> None:
    """On the matches page the person answers for every face shown: a face
    left without an answer would be neither erased nor kept knowingly.
    (The DPO's and the tests' direct filings may leave faces unanswered:
    such a face counts as not theirs.)"""
    shown = request.matches.filter(face__isnull=False)
    missing = [m.pk for m in shown if decisions.get(m.pk, m.decision) not in
               (Match.Decision.MINE, Match.Decision.NOT_MINE)]
    if missing:
        raise FilingRefused(ngettext_lazy(
            "One face has no answer yet. Please answer “This is me” or “Not me” for it.",
            "%(count)d faces have no answer yet. Please answer “This is me” or “Not me” for "
            "each of them.", len(missing)) % {"count": len(missing)})


@dataclass(frozen=True)
class FilingPreview:
    """What filing will do, shown to the person before they send it (and,
    as :func:`what_approval_does`, to the DPO before they approve)."""

    kinds: list[str]
    faces: list[Match]          # the person's confirmed faces: disclosed / erased
    claims: list[Match]         # ``possible`` faces waiting for the DPO
    not_mine: int

    @property
    def erases(self) -> bool:
        return bool({"erasure", "objection"} & set(self.kinds)) and bool(self.faces or
                                                                        self.claims)


def preview_filing(request: RightsRequest, *, kinds: list[str],
                   decisions: dict[int, str]) -> FilingPreview:
    """The person's answers as they would stand once filed, checked but not
    saved: every face answered, an answer that is one of the two, at least
    one kind, and a face for an erasure."""
    kinds = [k for k in KINDS if k in set(kinds)]
    if not kinds:
        raise FilingRefused(_("Please choose at least one request: access, erasure or "
                              "objection."))
    if request.state != State.MATCHES_READY:
        raise FilingRefused(_("This request has already been filed or closed."), status=409)
    matches = {m.pk: m for m in request.matches.filter(face__isnull=False)
               .order_by("distance", "pk")}
    if set(decisions) - set(matches):
        raise FilingRefused(_("Some of the faces you answered about are not part of this "
                              "request. Please reload the page and try again."))
    if any(d not in (Match.Decision.MINE, Match.Decision.NOT_MINE) for d in decisions.values()):
        raise FilingRefused(_("Please answer “This is me” or “Not me” for each face."))
    check_every_face_answered(request, decisions)
    if open_kinds_elsewhere(request) & set(kinds):
        raise FilingRefused(ALREADY_OPEN, status=429)
    answer = {pk: decisions.get(pk, m.decision) for pk, m in matches.items()}
    mine = [m for pk, m in matches.items() if answer[pk] == Match.Decision.MINE]
    faces = [m for m in mine if m.tier == Match.Tier.MATCH
             or m.dpo_decision == Match.DpoDecision.CONFIRMED]
    claims = [m for m in mine if m not in faces
              and m.dpo_decision == Match.DpoDecision.UNDECIDED]
    if "erasure" in kinds and not mine:
        raise FilingRefused(ERASURE_NEEDS_A_FACE)
    return FilingPreview(kinds=kinds, faces=faces, claims=claims,
                         not_mine=sum(1 for a in answer.values() if a == Match.Decision.NOT_MINE))



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
            raise FilingRefused(ERASURE_NEEDS_A_FACE)
        already_open = open_kinds_elsewhere(request) & set(kinds)
        if already_open:
            raise FilingRefused(ALREADY_OPEN, status=429)
        # Restricted at once: they leave customers' search results until the
        # request is done (Art. 18(1)(d) while an objection is considered).
        # A ``possible`` face the person claims waits for the DPO's
        # confirmation: a claim alone restricts nothing.
        newly_restricted = list(Face.objects.filter(pk__in=confirmed, restricted=False)
                                .values_list("pk", flat=True))
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
        # Art. 19: the customers that received these faces are told.
        tell_recipients_of_restriction(request, newly_restricted, lifted=False)
        request = transition(request, State.AWAITING_REVIEW, actor=audit.SYSTEM,
                             action=Action.QUEUED_FOR_REVIEW)
        queue_email(request, "request_received", event_key=f"request_received:{request.reference}")
        # Claims on ``possible`` faces always wait for the DPO, and so does
        # an access request: its package says where the faces appear, which
        # must never rest on the camera check alone (issue 30).
        if settings.AUTO_APPROVE_REQUESTS and not claims and "access" not in kinds:
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


def answer_question(request: RightsRequest, *, text: str,
                    photo: bytes | None = None) -> RightsRequest:
    """The person answers the DPO's question on their status page: the
    answer is kept with the request (its audit trail, on the DPO's page),
    the time limit runs again, the request goes back to the DPO, who is
    alerted. Refused unless the request is waiting for an answer."""
    text = (text or "").strip()
    if request.state != State.INFO_REQUESTED:
        raise FilingRefused(_("This request is not waiting for an answer any more."),
                            status=409)
    if not text:
        raise FilingRefused(_("Please write your answer."))
    stored = ""
    if photo is not None:
        if not photo_asked(request):
            raise FilingRefused(_("No photo was asked for; please answer in words."))
        stored = store_answer_photo(photo)
    with transaction.atomic():
        if stored:
            discard_files(request, ["answer_photo_file"])
            RightsRequest.objects.filter(pk=request.pk).update(answer_photo_file=stored)
        request = information_received(request, actor=audit.REQUESTER, note=text)
        queue_email(request, "dpo_answer_received",
                    event_key=f"dpo_answer_received:{request.reference}:{request.events.count()}")
    logger.info("request %s: the person answered the DPO's question", request.reference)
    return request


def _open_question_event(request: RightsRequest):
    if request.state != State.INFO_REQUESTED:
        return None
    return request.events.filter(action=Action.INFO_REQUESTED).order_by("-pk").first()


def open_question(request: RightsRequest) -> str:
    """The DPO's question the person has not answered yet ("" if none)."""
    event = _open_question_event(request)
    return event.reason if event is not None else ""


def photo_asked(request: RightsRequest) -> bool:
    """Whether the open question may be answered with a photo."""
    event = _open_question_event(request)
    return bool(event is not None and (event.details or {}).get("photo"))


def store_answer_photo(data: bytes) -> str:
    """The photo as a private file, decoded and re-encoded (no metadata,
    nothing but pixels); refused with a sentence if it is no image."""
    try:
        image = load_image(data, max_bytes=settings.FACE_UPLOAD_MAX_BYTES)
    except ImageError:
        raise FilingRefused(_("This file is not a photo we can read. Please send a JPEG, "
                              "PNG, WebP or HEIC image.")) from None
    return default_storage.save(f"{SELFIE_DIR}/answer-{uuid.uuid4().hex}.jpg",
                                ContentFile(encode(image)))
