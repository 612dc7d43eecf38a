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
from subjects.core.tokens import (
    MAX_BROWSERS,
    VERIFICATION_MAX_AGE,
    browser_hash,
    new_browser_secret,
    request_for_verification,
)
from subjects.core.transitions import transition
from subjects.models import RightsRequest, new_secret

logger = logging.getLogger(__name__)


def pending_request(email: str) -> RightsRequest | None:
    """The address's request still waiting for its confirmation, if its
    link still works: the start form sent again (back button, a second
    click) goes on with it instead of making a second request."""
    return (RightsRequest.objects
            .filter(email=email.strip(), email_hash=RightsRequest.hash_email(email),
                    state=State.UNVERIFIED,
                    created_at__gte=timezone.now() - VERIFICATION_MAX_AGE)
            .exclude(verification_nonce="").order_by("-created_at").first())


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
    request, _secret = confirm_address(token)
    return request


def confirm_address(token: str) -> tuple[RightsRequest, str]:
    """Use a confirmation link (the first one, or one sent to confirm the
    address again from another browser): raises ``LinkProblem`` (invalid,
    expired, used), else kills the link, verifies a new request, and binds
    the browser: returns the request and the secret for its cookie."""
    secret = new_browser_secret()
    with transaction.atomic():
        RightsRequest.objects.select_for_update().get(pk=request_for_verification(token).pk)
        # Checked again under the lock: of two clicks at once, the second
        # finds the link used.
        request = request_for_verification(token)
        browsers = [*request.bound_browsers, browser_hash(secret)][-MAX_BROWSERS:]
        if request.state == State.UNVERIFIED:
            request = transition(
                request, State.VERIFIED, actor=audit.REQUESTER, action=Action.EMAIL_VERIFIED,
                verified_at=timezone.now(), verification_nonce="", bound_browsers=browsers,
            )
        else:
            RightsRequest.objects.filter(pk=request.pk).update(verification_nonce="",
                                                                bound_browsers=browsers)
            events.browser_confirmed(request)
            request.refresh_from_db()
    logger.info("request %s: address confirmed in a browser", request.reference)
    return request, secret


def send_new_link(request: RightsRequest) -> None:
    """E-mail the request's address its confirmation link: the pending one
    again while there is one, so that asking again (from /start/, another
    browser, an old link) never kills the link already in the person's
    mailbox; a new one once the last was used."""
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().get(pk=request.pk)
        if not request.verification_nonce:
            RightsRequest.objects.filter(pk=request.pk).update(verification_nonce=new_secret())
            request.refresh_from_db()
        sent = events.new_link_sent(request)
        queue_email(request, "verify_email",
                    event_key=f"verify_email:{request.reference}:{request.verification_nonce}"
                              f":{sent.pk}")
