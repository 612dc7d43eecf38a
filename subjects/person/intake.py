"""Step 1: a person gives an e-mail address, a language and their explicit
consent to the biometric processing of a selfie; a single-use link checks
that the address is theirs."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from subjects.core import audit, events
from subjects.core.events import Action
from subjects.core.outbox import queue_email
from subjects.core.states import State
from subjects.core.tokens import LinkProblem, request_for_verification
from subjects.core.transitions import transition
from subjects.models import RightsRequest

logger = logging.getLogger(__name__)


@transaction.atomic
def start_request(*, email: str, language: str) -> RightsRequest:
    """Create a request with the person's consent and send the link."""
    now = timezone.now()
    request = RightsRequest.objects.create(
        email=email.strip(), email_hash=RightsRequest.hash_email(email), language=language,
        biometric_consent_at=now, created_at=now,
    )
    events.request_created(request, language=language)
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
        request, State.VERIFIED, actor=audit.REQUESTER, action=Action.EMAIL_VERIFIED,
        verified_at=timezone.now(), verification_nonce="",
    )
