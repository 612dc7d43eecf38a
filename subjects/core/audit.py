"""The audit trail: append-only and hash-chained.

Each event's hash covers its content and the previous event's hash, so
changing, inserting or deleting a row breaks the chain from there on;
``manage.py verify_audit`` finds the first broken event and prints the
chain's head (:func:`chain_head`), which the DPO records outside the system.
The database itself refuses UPDATE and DELETE on the table (a trigger of
migration ``subjects.0005``); the one change it accepts is retention blanking
a free-text reason through ``subjects_purge_audit_reasons``: the hash covers
the reason's SHA-256 (``reason_digest``), which stays, so the chain still
verifies. Events carry request references, states and reasons, never the
e-mail address or the selfie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from subjects.models import AuditEvent, RightsRequest

GENESIS = "0" * 64
# Serialises appends across processes: each event must see its predecessor.
_CHAIN_LOCK_KEY = 0x46524150  # "FRAP"

SYSTEM = "system"
REQUESTER = "requester"
#: A customer that received the faces, confirming an Art. 19 notice.
RECIPIENT = "recipient"


def reason_digest(reason: str) -> str:
    return hashlib.sha256(reason.encode("utf-8")).hexdigest()


def event_hash(previous_hash: str, *, reference: str, at, actor: str, action: str,
               from_state: str, to_state: str, reason: str, details: dict,
               digest: str = "") -> str:
    """The event's hash. With ``digest`` (every event written since digests
    exist) it covers the reason's digest, not the reason itself."""
    covered = {"reason_sha256": digest} if digest else {"reason": reason}
    payload = json.dumps(
        {
            "previous": previous_hash,
            "reference": reference,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "from": from_state,
            "to": to_state,
            **covered,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record_event(request: RightsRequest | None, *, actor: str, action: str,
                 from_state: str = "", to_state: str = "", reason: str = "",
                 details: dict | None = None, reference: str | None = None) -> AuditEvent:
    """Append one event; call inside the transaction of the change it records."""
    details = details or {}
    action = str(action)
    reference = reference or (request.reference if request else "")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-pk").values_list("hash", flat=True).first()
        previous = last or GENESIS
        at = timezone.now()
        digest = reason_digest(reason)
        chained = event_hash(previous, reference=reference, at=at, actor=actor, action=action,
                             from_state=from_state, to_state=to_state, reason=reason,
                             details=details, digest=digest)
        return AuditEvent.objects.create(
            request=request, reference=reference, at=at, actor=actor, action=action,
            from_state=from_state, to_state=to_state, reason=reason, reason_digest=digest,
            details=details, previous_hash=previous, hash=chained,
        )


@dataclass(frozen=True)
class ChainReport:
    events: int
    broken_event_id: int | None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_event_id is None


def verify_chain(batch_size: int = 2000) -> ChainReport:
    previous = GENESIS
    count = 0
    for event in AuditEvent.objects.order_by("pk").iterator(chunk_size=batch_size):
        count += 1
        if event.previous_hash != previous:
            return ChainReport(count, event.pk, "does not follow the event before it "
                                                "(an event was removed or inserted)")
        # A blank reason with a digest is one that retention purged.
        reason_changed = bool(event.reason_digest and event.reason
                              and reason_digest(event.reason) != event.reason_digest)
        expected = event_hash(previous, reference=event.reference, at=event.at,
                              actor=event.actor, action=event.action,
                              from_state=event.from_state, to_state=event.to_state,
                              reason=event.reason, details=event.details,
                              digest=event.reason_digest)
        if reason_changed or expected != event.hash:
            return ChainReport(count, event.pk, "was changed after it was written")
        previous = event.hash
    return ChainReport(count, None)


class ChainHead(NamedTuple):
    """Where the chain stands: its last event's position (the first event
    is 1; 0 for an empty trail), hash and time."""

    sequence: int
    hash: str
    at: dt.datetime | None


def chain_head() -> ChainHead:
    """The head now. Inside the transaction that appended an event, that
    event is the head (appends hold the chain's lock until commit)."""
    last = AuditEvent.objects.order_by("-pk").values("pk", "hash", "at").first()
    if last is None:
        return ChainHead(0, GENESIS, None)
    return ChainHead(AuditEvent.objects.filter(pk__lte=last["pk"]).count(), last["hash"],
                     last["at"])
