"""Housekeeping: challenges never finished, with their kept and queued
frames, and fingerprints past the retention period. Run by the retention
job (``subjects.jobs.retention``)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from subjects.models import FrameFingerprint, LivenessBurst, LivenessChallenge


def purge_unused_challenges(*, batch_size: int = 1000, now: dt.datetime | None = None) -> int:
    """Challenges never finished go, with their kept frames, once their time
    is up; fingerprints after the retention period. One bounded batch."""
    now = now or timezone.now()
    idle = now - dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS)
    # Not while a burst waits for a worker (the portal's delay), up to
    # LIVENESS_CHECK_WAIT_SECONDS.
    stale = list(LivenessChallenge.objects.filter(
        Q(revealed_at__isnull=True) | Q(revealed_at__lt=idle),
        Q(checking_since__isnull=True) | Q(checking_since__lt=now - dt.timedelta(
            seconds=settings.LIVENESS_CHECK_WAIT_SECONDS)),
        used_at__isnull=True, issued_at__lt=idle,
    ).values_list("pk", flat=True)[:batch_size])
    for name in (LivenessBurst.objects.filter(challenge__in=stale).exclude(frame_file="")
                 .values_list("frame_file", flat=True)):
        default_storage.delete(name)
    for names in LivenessChallenge.objects.filter(pk__in=stale).values_list("checking_files",
                                                                           flat=True):
        for name in names:
            default_storage.delete(name)
    LivenessChallenge.objects.filter(pk__in=stale).delete()
    old = FrameFingerprint.objects.filter(
        created_at__lt=now - dt.timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS))
    FrameFingerprint.objects.filter(pk__in=list(old.values_list("pk", flat=True)[:batch_size])
                                    ).delete()
    return len(stale)
