"""The one place where tests tamper with the audit trail, as someone with
write access to the database would. The database refuses changes to the
trail (append-only, migration subjects.0005): lifting that protection for a
test belongs here, and only here."""

from __future__ import annotations

import contextlib

from django.db import connection

from subjects.core.audit import GENESIS, event_hash, reason_digest
from subjects.models import AuditEvent


@contextlib.contextmanager
def as_table_owner_disabling_the_trigger():
    """What only a role that owns the table can do (never the portal's role
    in production): switch off the append-only trigger, to show that the
    checks still catch a rewrite. Inside the test's transaction, so the
    trigger is back for the next test."""
    with connection.cursor() as cursor:
        # Deferred foreign-key checks of the rows just written must run first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE subjects_auditevent DISABLE TRIGGER subjects_audit_append_only")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE subjects_auditevent ENABLE TRIGGER subjects_audit_append_only")


def rewrite_event(pk: int, *, rechain: bool = False, **fields) -> None:
    """Change the fields of event ``pk`` in place. With ``rechain``, also
    compute its hash and those of every later event afresh, as a careful
    forger would, so that the chain itself looks intact."""
    with as_table_owner_disabling_the_trigger():
        AuditEvent.objects.filter(pk=pk).update(**fields)
        if not rechain:
            return
        previous = (AuditEvent.objects.filter(pk__lt=pk).order_by("-pk")
                    .values_list("hash", flat=True).first()) or GENESIS
        for event in AuditEvent.objects.filter(pk__gte=pk).order_by("pk"):
            digest = reason_digest(event.reason) if event.reason_digest else ""
            chained = event_hash(previous, reference=event.reference, at=event.at,
                                 actor=event.actor, action=event.action,
                                 from_state=event.from_state, to_state=event.to_state,
                                 reason=event.reason, details=event.details, digest=digest)
            AuditEvent.objects.filter(pk=event.pk).update(previous_hash=previous, hash=chained,
                                                          reason_digest=digest)
            previous = chained
