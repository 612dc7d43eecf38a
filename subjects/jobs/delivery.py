"""Delivering the outbox (``subjects.core.outbox``): render each message in
its language with its links (and the signed receipt, for a completed
erasure), send it once, and queue again what a lost task left behind."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from subjects.core import tokens
from subjects.core.outbox import TO_RECIPIENT, TO_REQUESTER
from subjects.core.queueing import SEND_EMAIL, send_now
from subjects.jobs.receipts import RECEIPT_EMAILS, receipt_file_name, receipt_of
from subjects.models import OutboundEmail, RecipientNotice

logger = logging.getLogger(__name__)


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def links_for(outbound: OutboundEmail) -> dict:
    request = outbound.request
    if request is None:
        return {}
    links = {"dpo_url": absolute(f"/dpo/requests/{request.reference}/")}
    if outbound.kind == "access_ready" and hasattr(request, "package"):
        links["package_url"] = absolute(
            reverse("subjects:package", args=[tokens.download_token(request.package)])
        )
        links["package_expires_at"] = request.package.expires_at
    if outbound.kind == "verify_email":
        links["verify_url"] = absolute(
            reverse("subjects:verify", args=[tokens.verification_token(request)])
        )
    if outbound.kind in TO_RECIPIENT and outbound.context.get("notice"):
        notice = RecipientNotice.objects.filter(pk=outbound.context["notice"]).first()
        if notice is not None:
            links["acknowledge_url"] = absolute(
                reverse("subjects:acknowledge", args=[tokens.acknowledgement_token(notice)]))
            links["link_days"] = settings.ART19_LINK_DAYS
    if outbound.kind in RECEIPT_EMAILS:
        links["keys_url"] = absolute(reverse("receipt_keys"))
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
        "controller_representative": settings.CONTROLLER_REPRESENTATIVE,
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
    receipt = receipt_of(request) if outbound.kind in RECEIPT_EMAILS else None
    if receipt is not None:
        message.attach(receipt_file_name(receipt), receipt.document.encode("utf-8"),
                       "application/json")
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
    cutoff = timezone.now() - older_than
    ids = list(
        OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING, created_at__lt=cutoff)
        .order_by("pk").values_list("pk", flat=True)[:batch_size]
    )
    for outbound_id in ids:
        send_now(SEND_EMAIL, outbound_id)
    return len(ids)
