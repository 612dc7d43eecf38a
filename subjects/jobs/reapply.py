"""Erasures that a restore from backup cannot undo.

A backup taken before an erasure holds the person's faces and photo files;
restoring it brings them back. So every completed erasure is written down
twice:

- in the audit trail: the ``completed`` event's details carry ``erased``,
  the faces the job removed (each with its photo and box) and the files of
  its photos (:func:`erasure_record`);
- in the erasure journal (``settings.ERASURE_JOURNAL``), a file outside the
  database that only ever grows: the same event with its hash, and the
  suppression templates the person chose to leave (:func:`journal_completed`).
  It is written in the transaction that completes the request, before the
  commit, so no completed erasure is missing from it.

After a restore, ``manage.py reapply_erasures --since DATE`` reads the
events of both after the backup's date (the journal's lines must match
their hash) and does each erasure again (:func:`reapply`) through the one
erasure path, ``search.erasure.erase_faces_of_photo``: a face is erased
only where the restored row still has the recorded photo and box, since a
restored database hands out ids again that were used after the backup.
Files the erasure deleted whose photo row is gone are deleted from storage;
suppression entries are put back. An ``erasure_reapplied`` event records
what was done, so the trail's chain stays intact.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from search.erasure import erase_faces_of_photo
from search.models import Face, Photo, Suppression
from subjects.core.audit import event_hash
from subjects.core.events import Action, erasure_reapplied
from subjects.models import AuditEvent, RequestJob, RightsRequest


def erasure_record(job: RequestJob) -> dict:
    """What the audit trail keeps of an erasure: no person's data, only
    where their faces were in the index."""
    plan = job.plan
    boxes = plan.get("boxes", {})
    return {
        "faces": {str(face_id): {"photo": int(photo_id), "box": boxes.get(str(face_id))}
                  for photo_id, face_ids in plan["photos"].items() for face_id in face_ids},
        "files": {photo_id: info.get("file", "")
                  for photo_id, info in plan["photo_info"].items()},
    }


def _event_fields(event: AuditEvent) -> dict:
    return {"reference": event.reference, "at": event.at.isoformat(timespec="microseconds"),
            "actor": event.actor, "action": event.action, "from": event.from_state,
            "to": event.to_state, "reason": event.reason, "reason_digest": event.reason_digest,
            "details": event.details, "previous": event.previous_hash, "hash": event.hash}


def journal_completed(event: AuditEvent) -> None:
    """Append the event and the person's suppression templates to the
    journal, and wait until it is on disk."""
    suppressions = [
        {"model": s.model, "reason": s.reason, "embedding": [float(v) for v in s.embedding]}
        for s in Suppression.objects.filter(request_reference=event.reference)
    ]
    line = json.dumps({"event": _event_fields(event), "suppressions": suppressions},
                      separators=(",", ":")) + "\n"
    path = Path(settings.ERASURE_JOURNAL)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # one whole line per writer
        os.write(descriptor, line.encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- reading them back ----------------------------------------------------------------


@dataclass
class Recorded:
    reference: str
    at: dt.datetime
    hash: str
    erased: dict
    suppressions: list = field(default_factory=list)
    source: str = "audit trail"


@dataclass
class Outcome:
    erasures: int = 0
    faces_erased: int = 0
    photos_deleted: int = 0
    photos_redacted: int = 0
    files_deleted: int = 0
    suppressions_restored: int = 0
    skipped: list[str] = field(default_factory=list)
    refused_lines: list[str] = field(default_factory=list)


def _hash_holds(fields: dict) -> bool:
    return event_hash(
        fields["previous"], reference=fields["reference"],
        at=dt.datetime.fromisoformat(fields["at"]), actor=fields["actor"],
        action=fields["action"], from_state=fields["from"], to_state=fields["to"],
        reason=fields["reason"], details=fields["details"],
        digest=fields.get("reason_digest", ""),
    ) == fields["hash"]


def recorded_erasures(since: dt.datetime, journal: Path | None = None,
                      outcome: Outcome | None = None) -> list[Recorded]:
    """The erasures completed at or after ``since``, from the audit trail and
    the journal, once each, oldest first."""
    found: dict[str, Recorded] = {}
    events = AuditEvent.objects.filter(action=Action.COMPLETED, at__gte=since,
                                       details__has_key="erased").order_by("pk")
    for event in events:
        found[event.hash] = Recorded(event.reference, event.at, event.hash,
                                     event.details["erased"])
    path = Path(journal or settings.ERASURE_JOURNAL)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            fields = entry["event"]
            intact = _hash_holds(fields)
        except (ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            if outcome is not None:
                outcome.refused_lines.append(f"line {number} of {path} does not match its hash")
            continue
        at = dt.datetime.fromisoformat(fields["at"])
        if at < since or "erased" not in fields["details"]:
            continue
        recorded = found.setdefault(fields["hash"], Recorded(
            fields["reference"], at, fields["hash"], fields["details"]["erased"],
            source="journal"))
        recorded.suppressions = entry.get("suppressions", [])
    return sorted(found.values(), key=lambda r: r.at)


# -- doing them again --------------------------------------------------------------------


def _reapply_one(recorded: Recorded, outcome: Outcome) -> dict:
    done = {"faces": 0, "photos_deleted": 0, "photos_redacted": 0, "files": 0, "suppressions": 0}
    by_photo: dict[int, list[int]] = {}
    for face_id, where in recorded.erased["faces"].items():
        face = Face.objects.filter(pk=int(face_id)).first()
        if face is None:
            continue  # not in the restored database: nothing to do
        if where["box"] is None:
            outcome.skipped.append(f"{recorded.reference}: face {face_id} was erased before "
                                   "boxes were recorded; check it by hand")
            continue
        if face.photo_id != where["photo"] or list(face.box) != where["box"]:
            outcome.skipped.append(f"{recorded.reference}: face {face_id} is another face now "
                                   "(its photo or box differ); left alone")
            continue
        by_photo.setdefault(face.photo_id, []).append(face.pk)
    for photo_id, face_ids in sorted(by_photo.items()):
        result = erase_faces_of_photo(photo_id, face_ids)
        done["faces"] += result["faces"]
        done["photos_deleted"] += int(result["photo_deleted"])
        done["photos_redacted"] += int(result["redacted"])
    # Files restored from a media backup whose photo no longer exists.
    for name in recorded.erased["files"].values():
        if name and not Photo.objects.filter(image=name).exists() and \
                default_storage.exists(name):
            default_storage.delete(name)
            done["files"] += 1
    for entry in recorded.suppressions:
        _, created = Suppression.objects.get_or_create(
            request_reference=recorded.reference, model=entry["model"],
            defaults={"embedding": entry["embedding"], "reason": entry["reason"]})
        done["suppressions"] += int(created)
    return done


def reapply(since: dt.datetime, *, journal: Path | None = None) -> Outcome:
    """Do again every erasure completed at or after ``since``; safe to run
    twice (a second run finds nothing left to do)."""
    outcome = Outcome()
    for recorded in recorded_erasures(since, journal, outcome):
        # Each photo is erased in its own transaction (erase_faces_of_photo).
        done = _reapply_one(recorded, outcome)
        outcome.erasures += 1
        outcome.faces_erased += done["faces"]
        outcome.photos_deleted += done["photos_deleted"]
        outcome.photos_redacted += done["photos_redacted"]
        outcome.files_deleted += done["files"]
        outcome.suppressions_restored += done["suppressions"]
        if any(done.values()):
            erasure_reapplied(
                RightsRequest.objects.filter(reference=recorded.reference).first(),
                reference=recorded.reference,
                details={"completed_event": recorded.hash, "from": recorded.source, **done})
    return outcome
