"""Step 1: a person gives an e-mail address, a language and their explicit
consent to the biometric processing of a selfie; a single-use link checks
that the address is theirs."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from subjects import audit
from subjects.models import RightsRequest
from subjects.notifications import queue_email
from subjects.states import State
from subjects.tokens import LinkProblem, request_for_verification
from subjects.transitions import transition

logger = logging.getLogger(__name__)

UNVERIFIED_LIFETIME = dt.timedelta(days=7)


@transaction.atomic
def start_request(*, email: str, language: str) -> RightsRequest:
    """Create a request with the person's consent and send the link."""
    now = timezone.now()
    request = RightsRequest.objects.create(
        email=email.strip(), email_hash=RightsRequest.hash_email(email), language=language,
        biometric_consent_at=now, created_at=now,
    )
    audit.record_event(request, actor=audit.REQUESTER, action="created", to_state=State.UNVERIFIED,
                       details={"language": language, "biometric_consent": True})
    queue_email(request, "verify_email", event_key=f"verify_email:{request.reference}")
    logger.info("request %s created", request.reference)
    return request


def verify_email(token: str) -> RightsRequest:
    """Use a verification link: raises ``LinkProblem`` (invalid, expired,
    used), else marks the address verified and kills the link."""
    request = request_for_verification(token)
    if request.state != State.UNVERIFIED:
        raise LinkProblem("used")
    return transition(
        request, State.VERIFIED, actor=audit.REQUESTER, action="email_verified",
        verified_at=timezone.now(), verification_nonce="",
    )


def expire_unverified(*, now=None, batch_size: int = 500) -> int:
    """Requests never verified expire after 7 days, and lose their address."""
    cutoff = (now or timezone.now()) - UNVERIFIED_LIFETIME
    expired = 0
    ids = list(
        RightsRequest.objects.filter(state=State.UNVERIFIED, created_at__lt=cutoff)
        .values_list("pk", flat=True)[:batch_size]
    )
    for request in RightsRequest.objects.filter(pk__in=ids):
        with transaction.atomic():
            # The message is addressed now; the address leaves the request.
            queue_email(request, "request_expired",
                        event_key=f"request_expired:{request.reference}")
            transition(request, State.EXPIRED, actor=audit.SYSTEM, action="expired",
                       reason="e-mail address not verified within 7 days",
                       email="", verification_nonce="", closed_at=timezone.now())
        expired += 1
    return expired
