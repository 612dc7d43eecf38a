"""Step 2: the selfie is checked and handed to the search worker
(``subjects.jobs.selfie_search``), which embeds it, deletes it and searches."""

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
from subjects.core import audit
from subjects.core.closing import discard_review_selfie
from subjects.core.events import Action
from subjects.core.queueing import SELFIE_SEARCH, queue_on_commit
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.models import RightsRequest

logger = logging.getLogger(__name__)

SELFIE_DIR = "selfies"


class SelfieRejected(Exception):
    """A selfie that cannot be used; ``message`` tells the person what to do."""

    def __init__(self, code: str, message, *, status: int = 400):
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status


#: An upload after a passed camera check would replace the live picture the
#: DPO compares the matches with (and a stalker could pass the check with
#: their own face, then upload the victim's photo): refused.
AFTER_CAMERA_CHECK = _("You have already passed the camera check, and your search uses its "
                       "picture. An uploaded photo cannot replace it; to search with a new "
                       "picture, take the camera check again.")

#: Two submits at once (a double click, two tabs): the second is told this.
ALREADY_RECEIVED = _("We have already received a selfie for this request and are searching "
                     "with it. Please wait for the result.")


def min_face_size() -> int:
    return settings.SELFIE_MIN_FACE_PIXELS


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
    return one_face_in(read_image(data))


def read_image(data: bytes):
    """The picture of an uploaded file, or ``SelfieRejected`` saying why not."""
    try:
        return load_image(data)
    except ImageError as exc:
        raise SelfieRejected(exc.code, exc.message) from exc


def one_face_in(image) -> DetectedFace:
    """The one usable face of a picture, or ``SelfieRejected``."""
    return the_only_face(get_backend().detect(image))


def the_only_face(faces: list[DetectedFace]) -> DetectedFace:
    """The one usable face of those found in a picture, or ``SelfieRejected``."""
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


def submit_selfie(request: RightsRequest, data: bytes, *, live: bool,
                  embedding=None) -> RightsRequest:
    """Check a selfie and hand it to the search worker. Nothing is stored
    unless the photo passes every check. ``live``: it came from a passed
    camera challenge (``subjects.person.camera_check``, whose rules include this
    photo's checks), so its matches may be shown.

    The face is detected and embedded once per selfie: the check's own
    embedding (an upload's here, a camera check's ``embedding`` of the
    chosen frame) goes with the request, and the worker only searches."""
    backend = get_backend()
    if not live and request.selfie_live:
        raise SelfieRejected("after_camera_check", AFTER_CAMERA_CHECK, status=409)
    if not live:
        embedding = the_one_face(data).embedding
    name = default_storage.save(f"{SELFIE_DIR}/{uuid.uuid4().hex}.img", ContentFile(data))
    try:
        with transaction.atomic():
            request = RightsRequest.objects.select_for_update().get(pk=request.pk)
            if request.state not in (State.VERIFIED, State.MATCHES_READY):
                raise SelfieRejected("already_received", ALREADY_RECEIVED, status=409)
            if not live and request.selfie_live:
                raise SelfieRejected("after_camera_check", AFTER_CAMERA_CHECK, status=409)
            discard_review_selfie(request)
            request = transition(
                request, State.SEARCHING, actor=audit.REQUESTER,
                action=Action.SELFIE_SUBMITTED, details={"live": live},
                selfie_embedding=None if embedding is None else list(map(float, embedding)),
                selfie_model="" if embedding is None else backend.name,
                selfie_live=live, selfie_pending_file=name,
            )
            queue_on_commit(SELFIE_SEARCH, request.pk, name)
    except Exception:
        default_storage.delete(name)
        raise
    return request
