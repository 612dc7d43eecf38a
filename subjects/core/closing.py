"""Closing a request: the one way a request ends with the person's data let go.

Whatever closes it (withdrawal, rejection, completion, expiry), closing
records when, deletes the face template and every private file kept for the
request (the selfie waiting for the search worker, an uploaded selfie kept
for the DPO, a live frame), and lifts the restriction of the faces no other
open request holds.
"""

from __future__ import annotations

import datetime as dt

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from subjects.core.faces import release_faces
from subjects.core.notices import tell_recipients_of_restriction
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
                  restriction_lifts_at: dt.datetime | None = None,
                  **changes) -> RightsRequest:
    """Move ``request`` to a final state, letting go of its biometric data.
    Call inside the caller's transaction when it queues messages too.
    ``restriction_lifts_at``: keep the faces restricted until then (the
    person is told first, Art. 18(3)); by default lifted now."""
    with transaction.atomic():
        # The transition first: a refused one must leave the files alone.
        request = transition(request, to_state, actor=actor, action=action, reason=reason,
                             details=details, closed_at=timezone.now(), selfie_embedding=None,
                             restriction_lifts_at=restriction_lifts_at, **changes)
        discard_files(request)
        forget_camera_checks(request)
        if restriction_lifts_at is None:
            lift_restriction(request)
    return request


def lift_restriction(request: RightsRequest) -> list[int]:
    """Lift the restriction of the request's faces (those no other open
    request holds); the customers that received them are told (Art. 19)."""
    lifted = release_faces(request)
    tell_recipients_of_restriction(request, lifted, lifted=True)
    RightsRequest.objects.filter(pk=request.pk).update(restriction_lifts_at=None)
    return lifted


def lift_due_restrictions(*, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Lift the restrictions whose announced date has come (Art. 18(3)); the
    number of requests done."""
    now = now or timezone.now()
    due = list(RightsRequest.objects.filter(restriction_lifts_at__lte=now)
               .order_by("restriction_lifts_at")[:batch_size])
    for request in due:
        with transaction.atomic():
            lift_restriction(request)
    return len(due)


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
