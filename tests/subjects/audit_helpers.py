"""The one place where tests tamper with the audit trail, as someone with
write access to the database would. When the database refuses changes to
the trail (append-only), lifting that protection for the test belongs here,
and only here."""

from __future__ import annotations

from subjects.core.audit import GENESIS, event_hash
from subjects.models import AuditEvent


def rewrite_event(pk: int, *, rechain: bool = False, **fields) -> None:
    """Change the fields of event ``pk`` in place. With ``rechain``, also
    compute its hash and those of every later event afresh, as a careful
    forger would, so that the chain itself looks intact."""
    AuditEvent.objects.filter(pk=pk).update(**fields)
    if not rechain:
        return
    previous = (AuditEvent.objects.filter(pk__lt=pk).order_by("-pk")
                .values_list("hash", flat=True).first()) or GENESIS
    for event in AuditEvent.objects.filter(pk__gte=pk).order_by("pk"):
        digest = event_hash(previous, reference=event.reference, at=event.at, actor=event.actor,
                            action=event.action, from_state=event.from_state,
                            to_state=event.to_state, reason=event.reason, details=event.details)
        AuditEvent.objects.filter(pk=event.pk).update(previous_hash=previous, hash=digest)
        previous = digest
