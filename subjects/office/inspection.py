"""The inspection export for the supervisory authority (Art. 58(1)(a), (e)):
for a chosen period, one ZIP archive holding

- ``requests.csv`` / ``requests.json``: the requests received in the
  period, with their decisions, grounds and timeliness;
- ``breaches.csv`` / ``breaches.json``: the breach register for the period;
- ``record-of-processing.json``: the Art. 30 record as it stands;
- ``audit-heads/<day>.json``: the signed audit heads published in the
  period, as published, and ``audit-chain.json``: the check of the trail
  between each head and the next (every event links to the one before, its
  hash recomputed, the heads where they were published);
- ``transparency.json``: the transparency page's figures for those months;
- ``manifest.json``: every file's SHA-256 and size, signed with the
  portal's Ed25519 key (``portal.signatures``) as ``manifest.signed.json``,
  so the whole archive verifies offline against the published keys.

It assembles what the pages publish, so it stands with them (it reads the
transparency figures of ``subjects.web``)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from portal import signatures
from subjects.core.audit import GENESIS, event_hash, record_event
from subjects.core.states import FINAL, OPEN, State
from subjects.jobs.audit_heads import check_head
from subjects.models import AuditEvent, PublishedAuditHead, RightsRequest
from subjects.office import breaches, processing
from subjects.web import transparency

EXPORT_TYPE = "inspection-export"
ACTION = "inspection_exported"
MANIFEST = "manifest.json"
SIGNED_MANIFEST = "manifest.signed.json"

REQUEST_COLUMNS = [
    "reference", "received_on", "types", "state", "outcome", "due_on", "extended_months",
    "extension_ground", "rejection_ground", "closed_on", "days_to_answer", "answered_in_time",
]
OUTCOMES = {State.COMPLETED: "completed", State.REJECTED: "rejected",
            State.WITHDRAWN: "withdrawn", State.EXPIRED: "expired"}


def _start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _day(value: dt.datetime | None) -> str | None:
    return timezone.localdate(value).isoformat() if value else None


def requests_register(since: dt.date, until: dt.date) -> list[dict]:
    """The requests received from ``since`` to ``until`` (both included),
    oldest first: what was decided, on which ground, and whether in time.
    No address, no template, no free-text reason."""
    received = (RightsRequest.objects
                .filter(received_at__gte=_start(since),
                        received_at__lt=_start(until + dt.timedelta(days=1)))
                .order_by("received_at", "pk"))
    rows = []
    for request in received:
        due = request.due_date
        closed = timezone.localdate(request.closed_at) if request.closed_at else None
        answered = request.state in (State.COMPLETED, State.REJECTED) and closed is not None
        rows.append({
            "reference": request.reference,
            "received_on": _day(request.received_at),
            "types": request.kinds,
            "state": request.state,
            "outcome": OUTCOMES.get(request.state) or ("open" if request.state in OPEN
                                                       else "not filed"),
            "due_on": due.isoformat() if due else None,
            "extended_months": request.extension_months,
            "extension_ground": request.extension_ground or None,
            "rejection_ground": request.rejection_ground or None,
            "closed_on": closed.isoformat() if closed else None,
            "days_to_answer": (closed - timezone.localdate(request.received_at)).days
            if answered else None,
            # An open request is in time until its due date has passed.
            "answered_in_time": (closed <= due) if answered and due else (
                None if request.state in FINAL else
                (due is None or timezone.localdate() <= due)),
        })
    return rows


def _csv(columns: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            if isinstance(value, list):
                value = "+".join(value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            value = "" if value is None else str(value)
            cells.append("'" + value if value[:1] in ("=", "+", "-", "@") else value)
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def _json(value) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def heads_in(since: dt.date, until: dt.date) -> list[PublishedAuditHead]:
    return list(PublishedAuditHead.objects.filter(published_on__gte=since,
                                                  published_on__lte=until)
                .order_by("published_on"))


def chain_between(heads: list[PublishedAuditHead]) -> list[dict]:
    """For each head, whether the trail still holds it where it was
    published; for each pair of heads in turn, whether every event from the
    first to the second links to the one before and hashes as it should."""
    segments = []
    for head in heads:
        problem = check_head(head.sequence, head.hash)
        segments.append({"kind": "head", "published_on": head.published_on.isoformat(),
                         "sequence": head.sequence, "hash": head.hash,
                         "holds": not problem, "problem": problem or None})
    for earlier, later in zip(heads, heads[1:], strict=False):
        segments.append({"kind": "between", "from_sequence": earlier.sequence,
                         "from_hash": earlier.hash, "to_sequence": later.sequence,
                         "to_hash": later.hash, **_segment(earlier, later)})
    return segments


def _segment(earlier: PublishedAuditHead, later: PublishedAuditHead) -> dict:
    events = list(AuditEvent.objects.order_by("pk")[earlier.sequence:later.sequence])
    previous = earlier.hash if earlier.sequence else GENESIS
    for position, event in enumerate(events, earlier.sequence + 1):
        expected = event_hash(previous, reference=event.reference, at=event.at,
                              actor=event.actor, action=event.action,
                              from_state=event.from_state, to_state=event.to_state,
                              reason=event.reason, details=event.details,
                              digest=event.reason_digest)
        if event.previous_hash != previous or event.hash != expected:
            return {"events": len(events), "verified": False,
                    "problem": f"event {position} does not follow from the one before"}
        previous = event.hash
    if previous != later.hash:
        return {"events": len(events), "verified": False,
                "problem": "the trail does not reach the later head"}
    return {"events": len(events), "verified": True, "problem": None}


@dataclass(frozen=True)
class InspectionExport:
    data: bytes
    manifest: dict
    file_name: str


def build_export(*, since: dt.date, until: dt.date, actor: str,
                 now: dt.datetime | None = None) -> InspectionExport:
    """The archive for ``since`` to ``until`` (both included), signed; the
    export itself is written to the audit trail."""
    now = now or timezone.now()
    register = requests_register(since, until)
    breach_entries = breaches.register(since=_start(since),
                                       until=_start(until + dt.timedelta(days=1)))
    heads = heads_in(since, until)
    months = ((until.year - since.year) * 12 + until.month - since.month) + 1
    site = settings.SITE_URL
    figures = transparency.as_json(
        transparency.monthly_figures(today=until, months=months), heads,
        keys_url=site + reverse("receipt_keys"),
        head_url=lambda head: site + reverse("subjects:audit_head",
                                             args=[head.published_on.isoformat()]))
    files = {
        "requests.csv": _csv(REQUEST_COLUMNS, register),
        "requests.json": _json(register),
        "breaches.csv": _csv(breaches.REGISTER_COLUMNS, breach_entries),
        "breaches.json": _json(breach_entries),
        "record-of-processing.json": _json(processing.record_of_processing(now=now)),
        "audit-chain.json": _json(chain_between(heads)),
        "transparency.json": _json(figures),
        **{f"audit-heads/{head.published_on.isoformat()}.json": head.document.encode()
           for head in heads},
    }
    manifest = {
        "type": EXPORT_TYPE,
        "version": 1,
        "controller": settings.CONTROLLER_NAME,
        "site": site,
        "keys": site + reverse("receipt_keys"),
        "period": {"from": since.isoformat(), "to": until.isoformat()},
        "generated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "generated_by": actor,
        "requests": len(register),
        "breaches": len(breach_entries),
        "audit_heads": len(heads),
        "files": {name: {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
                  for name, content in sorted(files.items())},
    }
    manifest_bytes = _json(manifest)
    signed = signatures.sign_document(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
        archive.writestr(MANIFEST, manifest_bytes)
        archive.writestr(SIGNED_MANIFEST, signed)
    record_event(None, reference=f"INSP-{since:%Y%m%d}", actor=actor, action=ACTION,
                 details={"from": since.isoformat(), "to": until.isoformat(),
                          "requests": len(register), "breaches": len(breach_entries),
                          "manifest_sha256": hashlib.sha256(
                              signatures.canonical_json(manifest).encode()).hexdigest()})
    name = f"inspection-{since.isoformat()}-{until.isoformat()}.zip"
    return InspectionExport(buffer.getvalue(), manifest, name)


class ExportInvalid(Exception):
    pass


def verify_export(data: bytes) -> dict:
    """The signed manifest's payload, once the signature holds and every
    file of the archive is the one it names; raises :class:`ExportInvalid`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ExportInvalid("not a ZIP archive") from None
    with archive:
        names = set(archive.namelist())
        if SIGNED_MANIFEST not in names:
            raise ExportInvalid("the signed manifest is missing")
        try:
            manifest = signatures.open_document(archive.read(SIGNED_MANIFEST)).payload
        except signatures.InvalidDocument as invalid:
            raise ExportInvalid(f"the manifest {invalid}") from None
        listed = set(manifest.get("files", {}))
        if names - {MANIFEST, SIGNED_MANIFEST} != listed:
            raise ExportInvalid("the archive's files are not the ones the manifest lists")
        for name, entry in manifest["files"].items():
            if hashlib.sha256(archive.read(name)).hexdigest() != entry["sha256"]:
                raise ExportInvalid(f"{name} was changed after signing")
    return manifest
