"""E-mail to the person, the DPO and recipients, through an outbox.

Every message is a row created in the transaction of the event it tells
about, keyed by that event (``event_key``), so an event sends its message
once and only once; a Celery task on the ``email`` queue delivers it after
commit (``subjects.jobs.delivery``). Links are built when the message is
rendered, so no secret is ever stored in the outbox.
"""

from __future__ import annotations

from django.conf import settings

from subjects.core.queueing import SEND_EMAIL, queue_on_commit
from subjects.models import OutboundEmail, RightsRequest

#: Kinds of message, and who receives each.
TO_REQUESTER = {
    "verify_email", "matches_ready", "request_received", "request_withdrawn",
    "info_needed", "extended", "access_ready", "erasure_done", "objection_done",
    "rejected", "request_expired", "request_late", "rights_decided", "links_renewed",
    # Art. 34: a personal-data breach told to a person with a request here.
    "breach_notice",
}
TO_DPO = {"dpo_new_request", "dpo_due_soon", "dpo_due_tomorrow", "dpo_overdue",
          "dpo_job_failed", "dpo_identity_check", "dpo_recipients_without_contact",
          "dpo_answer_received",
          # The 72-hour clock of a breach (subjects.office).
          "dpo_breach_clock"}
TO_RECIPIENT = {"art19_notice", "art19_reminder", "art19_restricted",
                "art19_restriction_lifted"}


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
    queue_on_commit(SEND_EMAIL, outbound.pk)
    return outbound


