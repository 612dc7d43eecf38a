"""Steps 2 and 3: the selfie is checked, embedded by a worker, deleted at
once, and searched; its matches are kept for the person to confirm."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from search.backends import DetectedFace, get_backend
from search.imaging import ImageError, load_image
from search.matching import find_candidates
from subjects import audit
from subjects.models import Match, RightsRequest
from subjects.notifications import queue_email
from subjects.states import State
from subjects.transitions import transition

logger = logging.getLogger(__name__)

SELFIE_DIR = "selfies"


class SelfieRejected(Exception):
    """A selfie that cannot be used; ``message`` tells the person what to do."""

    def __init__(self, code: str, message):
        super().__init__(code)
        self.code = code
        self.message = message


def min_face_size() -> int:
    return getattr(settings, "SELFIE_MIN_FACE_PIXELS", 80)


def read_upload(upload) -> bytes:
    limit = settings.FACE_UPLOAD_MAX_BYTES
    if getattr(upload, "size", 0) > limit:
        raise SelfieRejected("too_large", ImageError("too_large", limit_mb=f"{limit / 2**20:g}")
                             .message)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise SelfieRejected("too_large", ImageError("too_large", limit_mb=f"{limit / 2**20:g}")
                             .message)
    return data


def the_one_face(data: bytes) -> DetectedFace:
    """The selfie's face, or ``SelfieRejected`` saying what is wrong."""
    try:
        image = load_image(data)
    except ImageError as exc:
        raise SelfieRejected(exc.code, exc.message) from exc
    faces = get_backend().detect(image)
    if not faces:
        raise SelfieRejected("no_face", _(
            "We could not find a face in this photo. Please take a photo of your face, "
            "looking at the camera in good light, and try again."))
    if len(faces) > 1:
        raise SelfieRejected("several_faces", ngettext_lazy(
            "This photo shows %(count)d face. Please use a photo in which only you appear.",
            "This photo shows %(count)d faces. Please use a photo in which only you appear.",
            "count") % {"count": len(faces)})
    face = faces[0]
    if face.size < min_face_size():
        raise SelfieRejected("face_too_small", _(
            "Your face is too small in this photo (%(size)d pixels wide; at least %(min)d are "
            "needed). Please come closer to the camera, or crop the photo around your face, "
            "and try again.") % {"size": face.size, "min": min_face_size()})
    return face


def submit_selfie(request: RightsRequest, data: bytes, *, live: bool) -> RightsRequest:
    """Check a selfie and hand it to the search worker. Nothing is stored
    unless the photo passes every check. ``live``: it came from a passed
    camera challenge (``subjects.liveness``), so its matches may be shown."""
    the_one_face(data)
    name = default_storage.save(f"{SELFIE_DIR}/{uuid.uuid4().hex}.img", ContentFile(data))
    try:
        with transaction.atomic():
            discard_review_selfie(request)
            request = transition(
                request, State.SEARCHING, actor=audit.REQUESTER, action="selfie_submitted",
                details={"live": live}, selfie_embedding=None, selfie_model="",
                selfie_live=live,
            )
            from subjects.tasks import run_selfie_search

            transaction.on_commit(lambda: run_selfie_search.delay(request.pk, name))
    except Exception:
        default_storage.delete(name)
        raise
    return request


def discard_review_selfie(request: RightsRequest) -> None:
    """Delete an uploaded selfie kept for the DPO's identity check."""
    if request.selfie_review_file:
        default_storage.delete(request.selfie_review_file)
        RightsRequest.objects.filter(pk=request.pk).update(selfie_review_file="")
        request.selfie_review_file = ""


def run_selfie_search(request_id: int, selfie_name: str) -> str:
    """Embed the selfie, delete it, search, keep the matches. Safe to run
    again after a crash at any point: the embedding is saved before the file
    is deleted, and a run finds its earlier work."""
    request = RightsRequest.objects.get(pk=request_id)
    if request.state != State.SEARCHING:
        default_storage.delete(selfie_name)
        return "not searching"
    backend = get_backend()
    if request.selfie_embedding is None:
        if not default_storage.exists(selfie_name):
            transition(request, State.VERIFIED, actor=audit.SYSTEM, action="selfie_lost",
                       reason="the selfie was not found; the person is asked again")
            return "selfie lost"
        with default_storage.open(selfie_name, "rb") as handle:
            data = handle.read()
        try:
            face = the_one_face(data)
        except SelfieRejected as exc:
            default_storage.delete(selfie_name)
            transition(request, State.VERIFIED, actor=audit.SYSTEM, action="selfie_rejected",
                       reason=exc.code)
            return exc.code
        RightsRequest.objects.filter(pk=request.pk).update(
            selfie_embedding=face.embedding, selfie_model=backend.name
        )
        request.refresh_from_db()
    if request.selfie_live:
        # Art. 9 and data minimisation: the image goes as soon as it is embedded.
        default_storage.delete(selfie_name)
    else:
        # An upload is kept only until the DPO has checked it is the requester.
        RightsRequest.objects.filter(pk=request.pk).update(selfie_review_file=selfie_name)
    candidates = find_candidates(request.selfie_embedding, model=request.selfie_model,
                                 include_restricted=True)
    with transaction.atomic():
        Match.objects.filter(request=request, decision="").delete()
        known = set(Match.objects.filter(request=request).values_list("face_id", flat=True))
        Match.objects.bulk_create([
            Match(request=request, face_id=c.face_id, photo_id_at_search=c.photo_id,
                  distance=c.distance, tier=str(c.tier))
            for c in candidates if c.face_id not in known
        ])
        # Only a live selfie gets the instant preview; an upload waits for
        # the DPO to confirm the requester, and nothing about matches is
        # shown or sent before.
        request = transition(
            request, State.MATCHES_READY if request.selfie_live else State.IDENTITY_REVIEW,
            actor=audit.SYSTEM, action="search_done",
            details={"matches": sum(1 for c in candidates if c.tier == "match"),
                     "possible": sum(1 for c in candidates if c.tier == "possible"),
                     "model": request.selfie_model, "live": request.selfie_live},
            searches_run=request.searches_run + 1,
        )
        if request.selfie_live:
            queue_email(request, "matches_ready",
                        event_key=f"matches_ready:{request.reference}:{request.searches_run}")
        else:
            queue_email(request, "dpo_identity_check",
                        event_key=f"dpo_identity_check:{request.reference}:"
                                  f"{request.searches_run}")
    logger.info("request %s: search done, %d candidates", request.reference, len(candidates))
    return "done"
