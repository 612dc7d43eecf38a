"""The challenge: signed, single-use, valid for a few minutes, holding a
random order of the three poses, which stay on the server until each is
revealed; and :class:`Outcome`, what the page does next."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from subjects.models import LivenessChallenge, RightsRequest
from subjects.person.camera_check.messages import LivenessFailed

POSES = ("straight", "left", "right")
# The module's name before it became a package: a new salt would void the
# challenges already issued.
_SALT = "subjects.liveness"


@dataclasses.dataclass
class Outcome:
    """What the page does next: show ``pose``, or (``selfie`` set) the
    check passed and ``selfie`` is the straight frame to search with."""

    step: int | None = None
    pose: str | None = None
    selfie: bytes | None = None
    #: The face template of ``selfie``, as the check computed it (the
    #: search worker does not run the model again).
    embedding: list[float] | None = None
    #: The check passed and its selfie was handed to the search (a check
    #: run by a worker).
    done: bool = False


def challenge_for_page(request: RightsRequest) -> str:
    """The signed token of the challenge the camera page offers. Opening or
    reloading the page (a person, a script, a link prefetcher) makes no new
    challenge while one made for the page waits unbegun: that one is offered
    again, with a fresh token and issue time. A new one is made only once
    the last was begun, and beginning is within the selfie abuse limits; so
    the page writes at most one waiting row per request."""
    with transaction.atomic():
        # Two page loads at once still leave one waiting challenge.
        RightsRequest.objects.select_for_update().get(pk=request.pk)
        waiting = (LivenessChallenge.objects
                   .filter(request=request, revealed=0, used_at__isnull=True,
                           checking_step__isnull=True)
                   .order_by("-pk").first())
        if waiting is None:
            return issue_challenge(request)[1]
        # Issued again now: the purge of unbegun challenges counts from here.
        LivenessChallenge.objects.filter(pk=waiting.pk).update(issued_at=timezone.now())
        return challenge_token(waiting)


def issue_challenge(request: RightsRequest) -> tuple[LivenessChallenge, str]:
    """A new challenge for ``request``, and its signed token. Its poses
    stay on the server until each is revealed."""
    poses = list(POSES)
    secrets.SystemRandom().shuffle(poses)
    challenge = LivenessChallenge.objects.create(request=request, poses=poses)
    return challenge, challenge_token(challenge)


def challenge_token(challenge: LivenessChallenge) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(
        f"{challenge.request.reference}:{challenge.pk}:{challenge.nonce}")


def open_challenge(token: str, request: RightsRequest, *, fresh: bool = True
                   ) -> LivenessChallenge:
    """The challenge a token names: signed, this request's and not finished
    (passed or failed); ``fresh``: issued within ``LIVENESS_CHALLENGE_SECONDS``
    (to begin it; once begun, each pose has its own deadline, and the time
    a burst waits for a worker is the portal's, not the person's)."""
    challenge = signed_challenge(token, request, fresh=fresh)
    if challenge.used_at is not None:
        raise LivenessFailed("challenge_used")
    return challenge


def signed_challenge(token: str, request: RightsRequest, *, fresh: bool = True
                     ) -> LivenessChallenge:
    """The challenge a token names: signed, this request's, and fresh if asked."""
    max_age = dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS) if fresh else None
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise LivenessFailed("challenge_expired") from None
    except signing.BadSignature:
        raise LivenessFailed("challenge_invalid") from None
    reference, challenge_id, nonce = (value.split(":") + ["", "", ""])[:3]
    if reference != request.reference or not challenge_id.isdigit():
        raise LivenessFailed("challenge_invalid")
    challenge = LivenessChallenge.objects.filter(pk=challenge_id, request=request,
                                                 nonce=nonce).first()
    if challenge is None:
        raise LivenessFailed("challenge_invalid")
    return challenge


def begin(request: RightsRequest, token: str) -> Outcome:
    """Reveal the first pose (once per challenge)."""
    challenge = open_challenge(token, request)
    started = LivenessChallenge.objects.filter(pk=challenge.pk, revealed=0,
                                               used_at__isnull=True).update(
        revealed=1, revealed_at=timezone.now())
    if not started:
        raise LivenessFailed("challenge_used")
    return Outcome(step=0, pose=challenge.poses[0])
