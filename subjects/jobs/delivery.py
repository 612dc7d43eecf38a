"""Delivering the outbox (``subjects.core.outbox``): render each message in
its language with its links (and the signed receipt, for a completed
erasure), send it at least once under a Message-ID of its own, record
every attempt, and queue again what a lost task left behind."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from datetime import timedelta
from email.utils import parseaddr
from smtplib import SMTPRecipientsRefused

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Greatest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from subjects.core import tokens
from subjects.core.outbox import TO_RECIPIENT, TO_REQUESTER
from subjects.core.queueing import SEND_EMAIL, send_now
from subjects.jobs.receipts import RECEIPT_EMAILS, receipt_file_name, receipt_of
from subjects.jobs.steps import TRANSIENT, checkpoint
from subjects.models import EmailAttempt, OutboundEmail, RecipientNotice

logger = logging.getLogger(__name__)


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def links_for(outbound: OutboundEmail) -> dict:
    request = outbound.request
    if request is None:
        return {}
    links = {"dpo_url": absolute(f"/dpo/requests/{request.reference}/")}
    if outbound.kind == "access_ready" and hasattr(request, "package"):
        # Only the date: the package is downloaded from the status page, in
        # the browser that confirmed the address, never by a mailed link.
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
        # The person's answer ("reply to this e-mail") goes to the DPO, not
        # to the portal's sending address.
        reply_to=[settings.DPO_EMAIL] if outbound.kind in TO_REQUESTER else None,
        headers={"Message-ID": message_id(outbound),
                 **({"X-Request-Reference": outbound.reference} if outbound.reference else {})},
    )
    message.attach_alternative(html, "text/html")
    receipt = receipt_of(request) if outbound.kind in RECEIPT_EMAILS else None
    if receipt is not None:
        message.attach(receipt_file_name(receipt), receipt.document.encode("utf-8"),
                       "application/json")
    return message


def message_id(outbound: OutboundEmail) -> str:
    """The message's Message-ID, derived from its event key: every attempt
    sends the same one, so a repeat shows as the same message to mail
    clients and in the mail server's log."""
    digest = hashlib.sha256(outbound.event_key.encode()).hexdigest()[:40]
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{digest}.outbox@{domain}>"


def backoff(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failed attempt in a row."""
    return min(3600, settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(0, failures - 1))


def deliver_email(outbound_id: int, *, sender: str = "") -> bool:
    """Send one outbox message unless it was sent; True when sent now.

    At least once: the conditional update is the claim (of two workers
    handed the same message, one moves it to ``sending``, for a lease);
    every attempt is recorded; a message whose worker died mid-send is taken
    back by ``resend_stalled_emails`` once its lease has run out and sent
    again, with the same Message-ID. ``sender`` names the claim: a retry of
    the same task (same ``sender``) may take its own claim back; without
    one (a direct call), the claim is this call's alone.
    """
    sender = sender or f"direct:{uuid.uuid4().hex}"
    claimed = claim_email(outbound_id, sender)
    if claimed is None:
        return False
    outbound, attempt = claimed
    checkpoint("email:claimed", f"{outbound.kind}:{outbound.reference}")
    try:
        build_message(outbound).send()
    except Exception as exc:
        record_failure(outbound, attempt, exc, sender=sender)
        raise
    checkpoint("email:accepted", f"{outbound.kind}:{outbound.reference}")
    record_sent(outbound, attempt)
    logger.info("e-mail %s for %s sent (attempt %d)", outbound.kind, outbound.reference,
                attempt.number)
    return True


def claim_email(outbound_id: int, sender: str) -> tuple[OutboundEmail, EmailAttempt] | None:
    now = timezone.now()
    with transaction.atomic():
        claimed = OutboundEmail.objects.filter(
            Q(status__in=[OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED])
            | Q(status=OutboundEmail.Status.SENDING, claimed_by=sender),
            pk=outbound_id,
        ).update(status=OutboundEmail.Status.SENDING, attempts=F("attempts") + 1,
                 lease_until=now + timedelta(seconds=settings.EMAIL_LEASE_SECONDS),
                 claimed_by=sender)
        if not claimed:
            return None
        outbound = OutboundEmail.objects.select_related("request").get(pk=outbound_id)
        # An attempt left open: its worker was cut off before it could say.
        outbound.attempt_log.filter(outcome="").update(
            outcome=EmailAttempt.Outcome.INTERRUPTED, finished_at=now)
        attempt = EmailAttempt.objects.create(outbound=outbound, number=outbound.attempts,
                                              worker=sender[:100], started_at=now)
    return outbound, attempt


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """The attempt's outcome and error: the exception's kind and the SMTP
    reply's code, never its text (which may quote addresses)."""
    code = getattr(exc, "smtp_code", None)
    if code is None and isinstance(exc, SMTPRecipientsRefused):
        code = next((reply[0] for reply in exc.recipients.values()), None)
    if code:
        return EmailAttempt.Outcome.REFUSED, f"{type(exc).__name__} {code}"
    return EmailAttempt.Outcome.FAILED, type(exc).__name__


def record_failure(outbound: OutboundEmail, attempt: EmailAttempt, exc: BaseException, *,
                   sender: str) -> None:
    outcome, error = describe_failure(exc)
    now = timezone.now()
    with transaction.atomic():
        EmailAttempt.objects.filter(pk=attempt.pk).update(outcome=outcome, error=error[:200],
                                                          finished_at=now)
        # Only while still this sender's: a message taken back meanwhile is
        # another worker's now.
        OutboundEmail.objects.filter(pk=outbound.pk, claimed_by=sender,
                                     status=OutboundEmail.Status.SENDING).update(
            status=OutboundEmail.Status.PENDING, last_error=error[:200], lease_until=None,
            claimed_by="", due_at=now + timedelta(seconds=backoff(outbound.attempts)))
    logger.warning("e-mail %s for %s not sent (%s)", outbound.kind, outbound.reference, error)


def record_sent(outbound: OutboundEmail, attempt: EmailAttempt) -> None:
    """Note the message as sent. The server has it: a database connection
    dropped now is opened again and the note retried, rather than leave the
    message to be sent twice."""
    for pause in (0, 0.5, 1, 2, 4, 8):
        time.sleep(pause)
        now = timezone.now()
        try:
            with transaction.atomic():
                OutboundEmail.objects.filter(pk=outbound.pk).update(
                    status=OutboundEmail.Status.SENT, sent_at=now, last_error="",
                    lease_until=None)
                EmailAttempt.objects.filter(pk=attempt.pk).update(
                    outcome=EmailAttempt.Outcome.SENT, error="", finished_at=now)
            return
        except TRANSIENT as error:
            last = error
            connection.close()
    raise last


def resend_stalled_emails(*, grace: timedelta | None = None, batch_size: int = 500) -> int:
    """Queue again what no worker is sending, and return how many:

    - messages ``sending`` past their lease: their worker died (or was cut
      off) mid-send; they are taken back and sent again with the same
      Message-ID (at least once: the server may have had the first);
    - messages due for longer than ``grace`` (two sweeps by default) that
      no task sent: the task was lost with a worker or a broker.

    A message queued again is not queued again before a pause that grows
    with its age, so a long queue is not filled with copies."""
    if grace is None:
        grace = timedelta(seconds=2 * settings.RECOVERY_SWEEP_SECONDS)
    now = timezone.now()
    with transaction.atomic():
        taken_back = list(
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(status=OutboundEmail.Status.SENDING, lease_until__lt=now)
            .order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        EmailAttempt.objects.filter(outbound_id__in=taken_back, outcome="").update(
            outcome=EmailAttempt.Outcome.INTERRUPTED, finished_at=now)
        OutboundEmail.objects.filter(pk__in=taken_back).update(
            status=OutboundEmail.Status.PENDING, lease_until=None, claimed_by="",
            last_error="interrupted", due_at=now + grace)
        due = list(
            OutboundEmail.objects.filter(
                status__in=[OutboundEmail.Status.PENDING, OutboundEmail.Status.FAILED],
                due_at__lt=now - grace)
            .order_by("due_at").values_list("pk", flat=True)[:batch_size]
        )
        age = ExpressionWrapper(Value(now) - F("created_at"), output_field=DurationField())
        OutboundEmail.objects.filter(pk__in=due).update(
            due_at=Greatest(Value(now + grace), Value(now) + age / 2))
    for outbound_id in [*taken_back, *due]:
        send_now(SEND_EMAIL, outbound_id)
    if taken_back:
        logger.warning("%d e-mail(s) taken back from workers that stopped mid-send",
                       len(taken_back))
    return len(taken_back) + len(due)
