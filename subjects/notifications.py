"""E-mail to the person, the DPO and recipients, through an outbox.

Every message is a row created in the transaction of the event it tells
about, keyed by that event (``event_key``), so an event sends its message
once and only once; a Celery task on the ``email`` queue delivers it after
commit. Links are built when the message is rendered, so no secret is ever
stored in the outbox.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from subjects import tokens
from subjects.models import OutboundEmail, RightsRequest

logger = logging.getLogger(__name__)

#: Kinds of message, and who receives each.
TO_REQUESTER = {
    "verify_email", "matches_ready", "request_received", "request_withdrawn",
    "info_needed", "extended", "access_ready", "erasure_done", "objection_done",
    "rejected", "request_expired",
}
TO_DPO = {"dpo_new_request", "dpo_due_soon", "dpo_due_tomorrow", "dpo_overdue",
          "dpo_job_failed", "dpo_identity_check"}
TO_RECIPIENT = {"art19_notice"}


def queue_email(request: RightsRequest | None, kind: str, *, event_key: str,
                recipient: str | None = None, language: str | None = None,
                context: dict | None = None) -> OutboundEmail | None:
    """Record a message for an event and send it after commit. Returns None
    when this event's message exists already."""
    if kind in TO_REQUESTER:
        recipient = recipient or request.email
        language = language or request.language
    elif kind in TO_DPO:
        recipient = recipient or settings.DPO_EMAIL
        language = language or settings.LANGUAGE_CODE
    elif kind not in TO_RECIPIENT:
        raise ValueError(f"unknown e-mail kind {kind!r}")
    outbound, created = OutboundEmail.objects.get_or_create(
        event_key=event_key,
        defaults={
            "request": request,
            "reference": request.reference if request else "",
            "kind": kind,
            "recipient": recipient,
            "language": language or settings.LANGUAGE_CODE,
            "context": context or {},
        },
    )
    if not created:
        return None
    from subjects.tasks import send_email

    transaction.on_commit(lambda: send_email.delay(outbound.pk))
    return outbound


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def links_for(outbound: OutboundEmail) -> dict:
    request = outbound.request
    if request is None:
        return {}
    links = {"dpo_url": absolute(f"/dpo/requests/{request.reference}/")}
    if outbound.kind == "access_ready" and hasattr(request, "package"):
        from subjects.access import download_token

        links["package_url"] = absolute(
            reverse("subjects:package", args=[download_token(request.package)])
        )
        links["package_expires_at"] = request.package.expires_at
    if outbound.kind == "verify_email":
        links["verify_url"] = absolute(
            reverse("subjects:verify", args=[tokens.verification_token(request)])
        )
    if outbound.kind in TO_REQUESTER and request.verified_at is not None:
        links["status_url"] = absolute(
            reverse("subjects:status", args=[tokens.access_token(request)])
        )
        links["matches_url"] = absolute(
            reverse("subjects:matches", args=[tokens.access_token(request)])
        )
    return links


def build_message(outbound: OutboundEmail) -> EmailMultiAlternatives:
    request = outbound.request
    context = {
        **outbound.context,
        **links_for(outbound),
        "request": request,
        "reference": outbound.reference,
        "site_url": settings.SITE_URL,
        "controller_name": settings.CONTROLLER_NAME,
        "dpo_email": settings.DPO_EMAIL,
        "authority_name": settings.SUPERVISORY_AUTHORITY_NAME,
        "authority_url": settings.SUPERVISORY_AUTHORITY_URL,
        "authority_address": settings.SUPERVISORY_AUTHORITY_ADDRESS,
    }
    with translation.override(outbound.language):
        # One line; French non-breaking spaces (before ":") stay.
        subject = re.sub(r"[ \t\r\n]+", " ", render_to_string(
            f"emails/{outbound.kind}.subject.txt", context)).strip()
        text = render_to_string(f"emails/{outbound.kind}.txt", context)
        html = render_to_string(f"emails/{outbound.kind}.html", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL,
        to=[outbound.recipient],
        headers={"X-Request-Reference": outbound.reference} if outbound.reference else {},
    )
    message.attach_alternative(html, "text/html")
    return message


def deliver_email(outbound_id: int) -> bool:
    """Send one outbox message unless it was sent; True when sent now.

    The conditional update is the claim: of two workers handed the same
    message, only one moves it to ``sending``.
    """
    claimed = OutboundEmail.objects.filter(
        pk=outbound_id, status__in=[OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED]
    ).update(status=OutboundEmail.Status.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return False
    outbound = OutboundEmail.objects.select_related("request").get(pk=outbound_id)
    try:
        build_message(outbound).send()
    except Exception as exc:
        OutboundEmail.objects.filter(pk=outbound_id).update(
            status=OutboundEmail.Status.PENDING, last_error=type(exc).__name__[:200]
        )
        logger.warning("e-mail %s for %s not sent (%s)", outbound.kind, outbound.reference,
                       type(exc).__name__)
        raise
    OutboundEmail.objects.filter(pk=outbound_id).update(
        status=OutboundEmail.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    logger.info("e-mail %s for %s sent", outbound.kind, outbound.reference)
    return True


def resend_stalled_emails(*, older_than: timedelta = timedelta(minutes=2),
                          batch_size: int = 500) -> int:
    """Queue again the messages whose task was lost (a worker killed with it
    reserved, a broker restarted). Only ``pending`` ones: a message caught
    mid-send (``sending``) may have reached the server, and sending it again
    could deliver it twice, so the DPO's timeline shows it instead."""
    from subjects.tasks import send_email

    cutoff = timezone.now() - older_than
    ids = list(
        OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING, created_at__lt=cutoff)
        .order_by("pk").values_list("pk", flat=True)[:batch_size]
    )
    for outbound_id in ids:
        send_email.delay(outbound_id)
    return len(ids)
