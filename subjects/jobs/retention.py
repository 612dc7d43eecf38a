"""Keeping nothing personal longer than needed (Celery beat, hourly, in
bounded batches; a full batch queues the next one at once).

- A request that stays too long in a state waiting for the person (or, before
  filing, for anyone) expires (:func:`expire_stale_requests`, limits in
  ``settings.REQUEST_EXPIRY``): through the state machine, with an e-mail to
  the person, and closing deletes its face template and every private file
  kept for it. Filed requests the DPO owes an answer never expire.
- Files in the private folders (selfies) that no open request names are
  deleted (:func:`purge_orphan_files`): what a crash or a lost task left.
- Access packages are deleted at expiry
  (``subjects.jobs.access_package.purge_expired_packages``).
- A closed request's selfie template is deleted (closing already does it;
  this catches any that slipped through).
- ``PERSONAL_DATA_RETENTION_DAYS`` after closing, a request loses its
  personal data: address, matches, e-mail recipients and contents, job
  details, and the free-text reasons of its audit events (blanked by the
  database function ``subjects_purge_audit_reasons``, the one change the
  append-only audit table accepts; the chain still verifies). What stays is
  the skeleton the controller must be able to show: reference, kinds, dates,
  states and the audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from subjects.core import audit, events
from subjects.core.closing import PRIVATE_FILE_FIELDS, close_request, lift_due_restrictions
from subjects.core.events import Action
from subjects.core.outbox import queue_email
from subjects.core.states import FINAL, State
from subjects.jobs.access_package import purge_expired_packages
from subjects.models import RightsRequest
from subjects.person.camera_check import purge_unused_challenges
from subjects.person.selfie import SELFIE_DIR

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
#: Folders of private files that belong to one request each.
PRIVATE_DIRS = (SELFIE_DIR,)
#: A file younger than this may belong to a request whose transaction has
#: not committed yet: the orphan purge leaves it alone.
ORPHAN_GRACE = dt.timedelta(hours=1)


def expire_request(request: RightsRequest, *, now: dt.datetime | None = None) -> bool:
    """Expire one request if it is still in a state with a limit and has
    been in it longer than the limit (checked again under the row lock, so
    a request that moved on meanwhile is left alone). The one way a request
    runs out of time. Returns whether it expired."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = RightsRequest.objects.select_for_update().get(pk=request.pk)
        limit = settings.REQUEST_EXPIRY.get(locked.state)
        if limit is None or locked.state_since >= now - limit:
            return False
        if locked.state == State.ERROR and locked.is_filed:
            return False  # the DPO owes this person an answer
        stage = locked.state
        hours = int(limit.total_seconds() // 3600)
        if locked.email:
            # The message is addressed now; an unverified address leaves the
            # request with it.
            queue_email(locked, "request_expired", event_key=f"request_expired:{locked.reference}",
                        context={"stage": stage, "days": limit.days, "hours": hours})
        changes = {"email": "", "verification_nonce": ""} if stage == State.UNVERIFIED else {}
        close_request(locked, State.EXPIRED, actor=audit.SYSTEM, action=Action.EXPIRED,
                      reason=f"no progress while {stage} for {hours} hours",
                      details={"state": stage, "limit_hours": hours},
                      paused_since=None, **changes)
    request.refresh_from_db()
    return True


def stale_requests(*, now: dt.datetime | None = None):
    """Requests past their state's limit (``settings.REQUEST_EXPIRY``)."""
    now = now or timezone.now()
    if not settings.REQUEST_EXPIRY:
        return RightsRequest.objects.none()
    due = Q()
    for state, limit in settings.REQUEST_EXPIRY.items():
        due |= Q(state=state, state_since__lt=now - limit)
    return (RightsRequest.objects.filter(due)
            .exclude(state=State.ERROR, received_at__isnull=False).order_by("state_since"))


def expire_stale_requests(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    now = now or timezone.now()
    batch = list(stale_requests(now=now)[:batch_size])
    return sum(expire_request(request, now=now) for request in batch)


def purge_orphan_files(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Delete files of the private folders that no open request names and
    that are older than :data:`ORPHAN_GRACE`; at most ``batch_size``."""
    now = now or timezone.now()
    named = Q()
    for field in PRIVATE_FILE_FIELDS:
        named |= ~Q(**{field: ""})
    kept: set[str] = set()
    for names in (RightsRequest.objects.exclude(state__in=FINAL).filter(named)
                  .values_list(*PRIVATE_FILE_FIELDS)):
        kept.update(name for name in names if name)
    deleted = 0
    for folder in PRIVATE_DIRS:
        try:
            _dirs, files = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        for file_name in sorted(files):
            name = f"{folder}/{file_name}"
            if name in kept or default_storage.get_modified_time(name) > now - ORPHAN_GRACE:
                continue
            default_storage.delete(name)
            deleted += 1
            if deleted >= batch_size:
                return deleted
    return deleted


def purge_closed_selfie_templates(*, batch_size: int = BATCH_SIZE) -> int:
    ids = list(
        RightsRequest.objects.filter(state__in=FINAL, selfie_embedding__isnull=False)
        .values_list("pk", flat=True)[:batch_size]
    )
    return RightsRequest.objects.filter(pk__in=ids).update(selfie_embedding=None)


def purge_audit_reasons(request: RightsRequest) -> int:
    """Blank the free-text reasons of the request's audit events through the
    database function that the append-only table allows (migration
    ``subjects.0005``); each event keeps the digest its hash covers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT subjects_purge_audit_reasons(%s)", [request.pk])
        return cursor.fetchone()[0]


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
            request.right_decisions.update(reason="")
            RightsRequest.objects.filter(pk=request.pk).update(
                email="", email_hash="", selfie_embedding=None, decision_reason="",
                extension_reason="", verification_nonce="", personal_data_purged_at=now,
            )
            purge_audit_reasons(request)
            events.personal_data_purged(request)
    return len(ids)


def run_purges(*, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """One round of every purge; the task queues another round at once when
    a batch came back full. Each purge runs on its own: one that fails (a
    database refusal, a file it cannot delete) is logged by name and counted
    as -1, and the purges after it still run."""
    purges = {
        "requests_expired": expire_stale_requests,
        "orphan_files_deleted": purge_orphan_files,
        "packages_purged": purge_expired_packages,
        "selfie_templates_deleted": purge_closed_selfie_templates,
        "requests_purged": purge_personal_data,
        "camera_checks_purged": purge_unused_challenges,
        "restrictions_lifted": lift_due_restrictions,
    }
    done = {}
    for name, purge in purges.items():
        try:
            with transaction.atomic():
                done[name] = purge(batch_size=batch_size)
        except Exception:  # noqa: BLE001 - the next purge must still run
            logger.exception("retention: the purge %s failed; the others go on", name)
            done[name] = -1
    return done
