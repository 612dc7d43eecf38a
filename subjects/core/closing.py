"""Closing a request: the one way a request ends with the person's data let go.

Whatever closes it (withdrawal, rejection, completion, expiry), closing
records when, deletes the face template and any selfie kept for the DPO,
and lifts the restriction of the faces no other open request holds.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from subjects.core.faces import release_faces
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.models import RightsRequest


def discard_review_selfie(request: RightsRequest) -> None:
    """Delete an uploaded selfie kept for the DPO's identity check."""
    if request.selfie_review_file:
        default_storage.delete(request.selfie_review_file)
        RightsRequest.objects.filter(pk=request.pk).update(selfie_review_file="")
        request.selfie_review_file = ""


def close_request(request: RightsRequest, to_state: State, *, actor: str, action: str,
                  reason: str = "", details: dict | None = None,
                  **changes) -> RightsRequest:
    """Move ``request`` to a final state, letting go of its biometric data.
    Call inside the caller's transaction when it queues messages too."""
    with transaction.atomic():
        discard_review_selfie(request)
        request = transition(request, to_state, actor=actor, action=action, reason=reason,
                             details=details, closed_at=timezone.now(), selfie_embedding=None,
                             **changes)
        release_faces(request)
    return request
