"""Keeping nothing personal longer than needed (Celery beat, hourly, in
bounded batches; a full batch queues the next one at once).

- Requests never verified expire after 7 days (:func:`expire_unverified`).
- Access packages are deleted at expiry
  (``subjects.jobs.access_package.purge_expired_packages``).
- A closed request's selfie template is deleted (closing already does it;
  this catches any that slipped through).
- ``PERSONAL_DATA_RETENTION_DAYS`` after closing, a request loses its
  personal data: address, matches, e-mail recipients and contents, job
  details. What stays is the skeleton the controller must be able to show:
  reference, kinds, dates, states and the audit trail.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subjects.core import audit, events
from subjects.core.closing import close_request
from subjects.core.events import Action
from subjects.core.outbox import queue_email
from subjects.core.states import FINAL, State
from subjects.jobs.access_package import purge_expired_packages
from subjects.models import RightsRequest
from subjects.person.liveness import purge_unused_challenges

BATCH_SIZE = 500
UNVERIFIED_LIFETIME = dt.timedelta(days=7)


def expire_unverified(*, now=None, batch_size: int = BATCH_SIZE) -> int:
    """Requests never verified expire after 7 days, and lose their address."""
    cutoff = (now or timezone.now()) - UNVERIFIED_LIFETIME
    ids = list(
        RightsRequest.objects.filter(state=State.UNVERIFIED, created_at__lt=cutoff)
        .values_list("pk", flat=True)[:batch_size]
    )
    for request in RightsRequest.objects.filter(pk__in=ids):
        with transaction.atomic():
            # The message is addressed now; the address leaves the request.
            queue_email(request, "request_expired",
                        event_key=f"request_expired:{request.reference}")
            close_request(request, State.EXPIRED, actor=audit.SYSTEM, action=Action.EXPIRED,
                          reason="e-mail address not verified within 7 days",
                          email="", verification_nonce="")
    return len(ids)


def purge_closed_selfie_templates(*, batch_size: int = BATCH_SIZE) -> int:
    ids = list(
        RightsRequest.objects.filter(state__in=FINAL, selfie_embedding__isnull=False)
        .values_list("pk", flat=True)[:batch_size]
    )
    return RightsRequest.objects.filter(pk__in=ids).update(selfie_embedding=None)


def purge_personal_data(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS)
    ids = list(
        RightsRequest.objects.filter(state__in=FINAL, closed_at__lt=cutoff,
                                     personal_data_purged_at__isnull=True)
        .values_list("pk", flat=True)[:batch_size]
    )
    for request in RightsRequest.objects.filter(pk__in=ids):
        with transaction.atomic():
            request.matches.all().delete()
            request.emails.update(recipient="", context={})
            request.jobs.update(plan={}, result={})
            RightsRequest.objects.filter(pk=request.pk).update(
                email="", email_hash="", selfie_embedding=None, decision_reason="",
                extension_reason="", verification_nonce="", personal_data_purged_at=now,
            )
            events.personal_data_purged(request)
    return len(ids)


def run_purges(*, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """One round of every purge; the task queues another round at once when
    a batch came back full."""
    return {
        "unverified_expired": expire_unverified(batch_size=batch_size),
        "packages_purged": purge_expired_packages(batch_size=batch_size),
        "selfie_templates_deleted": purge_closed_selfie_templates(batch_size=batch_size),
        "requests_purged": purge_personal_data(batch_size=batch_size),
        "camera_checks_purged": purge_unused_challenges(batch_size=batch_size),
    }
