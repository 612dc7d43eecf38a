"""The published audit head: once a day (Celery beat) the portal signs where
the audit chain stands (``subjects.core.audit.chain_head``: the last
event's position, hash and time) and publishes it, with every earlier one,
on the transparency page. Whoever keeps a copy can later show that the
trail was rewritten: a rewritten trail no longer holds, at the published
position, an event with the published hash, even when every hash after the
change was computed afresh (which ``verify_chain`` alone cannot see).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from portal import signatures
from subjects.core.audit import chain_head
from subjects.models import AuditEvent, PublishedAuditHead

HEAD_TYPE = "audit-head"


def publish_audit_head(*, now=None) -> PublishedAuditHead:
    """Sign and publish the chain's head; once a day (a second run the same
    day returns the day's head)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    existing = PublishedAuditHead.objects.filter(published_on=today).first()
    if existing is not None:
        return existing
    head = chain_head()
    payload = {
        "type": HEAD_TYPE,
        "version": 1,
        "issuer": {"controller": settings.CONTROLLER_NAME, "site": settings.SITE_URL,
                   "keys": settings.SITE_URL + reverse("receipt_keys")},
        "published_at": now.isoformat(timespec="seconds"),
        "sequence": head.sequence,
        "hash": head.hash,
        "at": head.at.isoformat() if head.at else None,
    }
    document = signatures.sign_document(payload)
    try:
        with transaction.atomic():
            return PublishedAuditHead.objects.create(
                sequence=head.sequence, hash=head.hash, head_at=head.at, published_at=now,
                published_on=today, key_id=signatures.open_document(document).key_id,
                document=document)
    except IntegrityError:
        # Another worker published today's head first.
        return PublishedAuditHead.objects.get(published_on=today)


@dataclass(frozen=True)
class HeadMismatch:
    head: PublishedAuditHead
    problem: str

    def __str__(self) -> str:
        return (f"the head published on {self.head.published_on} (event {self.head.sequence}, "
                f"hash {self.head.hash[:16]}…) {self.problem}")


def check_head(sequence: int, digest: str) -> str:
    """Why the trail disagrees with a head (a position and a hash), or ""."""
    if sequence == 0:
        return ""
    event = AuditEvent.objects.filter(hash=digest).values("pk").first()
    if event is None:
        return ("matches no event of the trail: the trail was rewritten at or before that "
                "event")
    position = AuditEvent.objects.filter(pk__lte=event["pk"]).count()
    if position != sequence:
        return (f"is now event {position}: events before it were removed or inserted")
    return ""


def check_published_heads() -> list[HeadMismatch]:
    """Every published head the trail no longer matches, oldest first."""
    found = []
    for head in PublishedAuditHead.objects.order_by("published_on"):
        problem = check_head(head.sequence, head.hash)
        if problem:
            found.append(HeadMismatch(head, problem))
    return found
