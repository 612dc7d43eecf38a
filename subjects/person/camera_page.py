"""The challenge the camera check's page offers. Opening or reloading the
page (a person, a script, a link prefetcher) makes no new challenge while
one made for the page waits unbegun: that one is offered again, with a
fresh token and a fresh issue time. A new challenge is made only once the
last one was begun, and beginning is within the selfie abuse limits; so
the page writes at most one waiting row per request."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from subjects.models import LivenessChallenge, RightsRequest
from subjects.person import liveness


def challenge_for_page(request: RightsRequest) -> str:
    """The signed token of the request's waiting challenge, made if none waits."""
    with transaction.atomic():
        # Two page loads at once still leave one waiting challenge.
        RightsRequest.objects.select_for_update().get(pk=request.pk)
        waiting = (LivenessChallenge.objects
                   .filter(request=request, revealed=0, used_at__isnull=True,
                           checking_step__isnull=True)
                   .order_by("-pk").first())
        if waiting is None:
            return liveness.issue_challenge(request)[1]
        # Issued again now: the purge of unbegun challenges counts from here.
        LivenessChallenge.objects.filter(pk=waiting.pk).update(issued_at=timezone.now())
        return liveness.challenge_token(waiting)
