"""Closing a request: the one way a request ends with the person's data let go.

Whatever closes it (withdrawal, rejection, completion, expiry), closing
records when, deletes the face template and every private file kept for the
request (the selfie waiting for the search worker, an uploaded selfie kept
for the DPO, a live frame), and lifts the restriction of the faces no other
open request holds.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from subjects.core.faces import release_faces
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.models import LivenessBurst, LivenessChallenge, RightsRequest

#: The request's fields that name a private file: every field called
#: ``*_file``. Closing deletes them all, and the retention purge deletes a
#: file in the private folders that no open request names here.
PRIVATE_FILE_FIELDS = tuple(
    field.name for field in RightsRequest._meta.concrete_fields if field.name.endswith("_file")
)


def discard_review_selfie(request: RightsRequest) -> None:
    """Delete an uploaded selfie kept for the DPO's identity check."""
    discard_files(request, ["selfie_review_file"])


def discard_files(request: RightsRequest, fields=PRIVATE_FILE_FIELDS) -> None:
    """Delete the files the request's ``fields`` name (as stored now, not as
    the caller's copy remembers), and forget the names."""
    stored = RightsRequest.objects.filter(pk=request.pk).values(*fields).first() or {}
    named = {field: name for field, name in stored.items() if name}
    if not named:
        return
    for name in named.values():
        default_storage.delete(name)
    RightsRequest.objects.filter(pk=request.pk).update(**dict.fromkeys(named, ""))
    for field in named:
        setattr(request, field, "")


def close_request(request: RightsRequest, to_state: State, *, actor: str, action: str,
                  reason: str = "", details: dict | None = None,
                  **changes) -> RightsRequest:
    """Move ``request`` to a final state, letting go of its biometric data.
    Call inside the caller's transaction when it queues messages too."""
    with transaction.atomic():
        # The transition first: a refused one must leave the files alone.
        request = transition(request, to_state, actor=actor, action=action, reason=reason,
                             details=details, closed_at=timezone.now(), selfie_embedding=None,
                             **changes)
        discard_files(request)
        forget_camera_checks(request)
        release_faces(request)
    return request


def forget_camera_checks(request: RightsRequest) -> None:
    """The request's camera checks let go of everything taken from the
    camera: bursts and their kept frames, frames waiting for a worker, and
    the challenges never finished. (A finished challenge keeps only its
    poses, times and outcome; fingerprints are hashes, kept for the
    retention period.)"""
    challenges = LivenessChallenge.objects.filter(request=request)
    bursts = LivenessBurst.objects.filter(challenge__in=challenges)
    for name in bursts.exclude(frame_file="").values_list("frame_file", flat=True):
        default_storage.delete(name)
    for names in challenges.values_list("checking_files", flat=True):
        for name in names:
            default_storage.delete(name)
    bursts.delete()
    challenges.filter(used_at__isnull=True).delete()
