"""The data protection impact assessment (Art. 35): a document generated
for the DPO to complete and sign, with the facts the system measures filled
in, never typed: the false-match bound of a search at the index's present
size (the calibration record's false-accept bound times the faces of that
model), the camera check's outcomes as the database holds them and the
figures recorded for it, the retention periods and the safeguards in force
(``subjects.office.processing``), the requests' figures and the breaches.
Each generation is kept as a dated version (:class:`ImpactAssessment`) and
written to the audit trail with its document's digest."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import statistics
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from search.models import Customer, CustomerSearch, Face, Photo
from subjects.core import disclosures
from subjects.core.audit import record_event
from subjects.core.states import OPEN, State
from subjects.models import LivenessChallenge, RightsRequest
from subjects.office import processing
from subjects.office.models import NOTIFICATION_HOURS, Breach, ImpactAssessment

SCHEMA = "impact-assessment/1"
ACTION = "impact_assessment_generated"
_VERSION_LOCK_KEY = 0x44504941  # "DPIA"

#: What the DPO completes before signing (Art. 35(7)(b)-(d), 35(2)).
TO_COMPLETE = [
    _("The necessity and proportionality of the processing in relation to its purposes "
      "(Art. 35(7)(b))."),
    _("The risks to the rights and freedoms of the people concerned (Art. 35(7)(c)), read "
      "against the measured figures below."),
    _("The measures envisaged to address the risks, beyond the safeguards in force "
      "(Art. 35(7)(d))."),
    _("The advice of the Data Protection Officer (Art. 35(2)) and, where sought, the views of "
      "the people concerned (Art. 35(9))."),
    _("Whether prior consultation of the supervisory authority is needed (Art. 36)."),
]


def calibrations() -> list[tuple[Path, dict]]:
    folder = Path(settings.FACE_CALIBRATION_DIR)
    return [(path, json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(folder.glob("*.json"))]


def face_search_figures() -> list[dict]:
    """Per face model with a calibration record: its thresholds and error
    bounds as measured, and the bound on false matches per search at the
    number of faces of that model the index holds now."""
    faces = dict(Face.objects.values_list("model").annotate(n=Count("pk")))
    figures = []
    for path, record in calibrations():
        match = record["match"]
        far_upper = match["false_accept_rate"]["upper_95"]
        index_faces = faces.get(record["model"], 0)
        figures.append({
            "model": record["model"],
            "source": str(path.relative_to(settings.BASE_DIR)) if path.is_relative_to(
                settings.BASE_DIR) else path.name,
            "calibrated_at": record.get("calibrated_at"),
            "labelled_faces": record.get("labelled_faces"),
            "identities": record.get("identities"),
            "impostor_pairs": record.get("impostor_pairs"),
            "genuine_pairs": record.get("genuine_pairs"),
            "match_threshold": record["match_threshold"],
            "false_accept_rate": match["false_accept_rate"],
            "false_reject_rate": match["false_reject_rate"],
            "index_faces": index_faces,
            # As the calibration itself scales it: the per-comparison bound
            # times the comparisons one search makes (every face of the model).
            "false_matches_per_search_upper_95": far_upper * index_faces
            if far_upper is not None else None,
        })
    return figures


def camera_check_figures() -> dict:
    """The camera check as the running system saw it: challenges issued,
    answered, passed and failed (by the rule that failed them)."""
    challenges = LivenessChallenge.objects
    failures = dict(challenges.filter(passed=False).values_list("failure")
                    .annotate(n=Count("pk")).order_by("failure"))
    return {
        "issued": challenges.count(),
        "answered": challenges.filter(passed__isnull=False).count(),
        "passed": challenges.filter(passed=True).count(),
        "failed": challenges.filter(passed=False).count(),
        "failed_by_rule": {code or "unspecified": n for code, n in failures.items()},
        # Attack and bona fide error rates (ISO/IEC 30107-3 APCER, BPCER)
        # need a recorded measurement; none is kept in the system yet.
        "recorded_attack_measurement": None,
    }


def request_figures(*, today: dt.date) -> dict:
    received = RightsRequest.objects.filter(received_at__isnull=False)
    by_state = dict(received.values_list("state").annotate(n=Count("pk")).order_by("state"))
    closed = received.filter(state__in=[State.COMPLETED, State.REJECTED],
                             closed_at__isnull=False).values_list("received_at", "closed_at")
    days = [(timezone.localdate(end) - timezone.localdate(start)).days for start, end in closed]
    return {
        "received": received.count(),
        "access": received.filter(access=True).count(),
        "erasure": received.filter(erasure=True).count(),
        "objection": received.filter(objection=True).count(),
        "completed": by_state.get(State.COMPLETED, 0),
        "rejected": by_state.get(State.REJECTED, 0),
        "withdrawn": by_state.get(State.WITHDRAWN, 0),
        "open": received.filter(state__in=OPEN).count(),
        "open_overdue": received.filter(state__in=OPEN, due_on__lt=today).count(),
        "median_days_to_answer": statistics.median(days) if days else None,
        "longest_days_to_answer": max(days) if days else None,
    }


def breach_figures() -> dict:
    notified = Breach.objects.filter(authority_notified_at__isnull=False)
    late = [b for b in notified if b.is_late(b.authority_notified_at)]
    return {"recorded": Breach.objects.count(), "notified": notified.count(),
            "notified_after_72_hours": len(late),
            "not_yet_notified": Breach.objects.filter(authority_notified_at__isnull=True).count(),
            "people_told": sum(Breach.objects.values_list("people_told", flat=True)),
            "notification_hours": NOTIFICATION_HOURS}


def assessment_document(*, version: int, actor: str, now: dt.datetime) -> dict:
    record = processing.record_of_processing(now=now)
    return {
        "schema": SCHEMA,
        "version": version,
        "generated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "generated_by": actor,
        "controller": record["controller"],
        "dpo": record["dpo"],
        "processing": {
            "description": str(_("A database of faces detected in photos collected from "
                                 "public websites and social media, searched by face for "
                                 "customers; and this portal, where people find their faces "
                                 "in it and exercise their rights.")),
            "purposes": record["purposes"],
            "categories_of_data": [{"code": c["code"], "label": c["label"], "held": c["held"]}
                                   for c in record["categories_of_data"]],
            "recipients": record["recipients"],
            "transfers": record["transfers"],
        },
        "measured": {
            "index": {"photos": Photo.objects.count(), "faces": Face.objects.count(),
                      "customers": Customer.objects.count(),
                      "customer_searches": CustomerSearch.objects.count()},
            "face_search": face_search_figures(),
            "camera_check": camera_check_figures(),
            "requests": request_figures(today=timezone.localdate(now)),
            "breaches": breach_figures(),
        },
        "retention": {"settings": record["retention_settings"],
                      "categories": {c["code"]: c["retention"]["rule"]
                                     for c in record["categories_of_data"]}},
        "safeguards": record["security_measures"],
        "automated_decisions": {"used": disclosures.AUTOMATED_DECISIONS["used"],
                                "explanation": str(
                                    disclosures.AUTOMATED_DECISIONS["explanation"])},
        "to_complete": [str(item) for item in TO_COMPLETE],
        "signature": {"name": None, "role": None, "signed_on": None},
    }


def document_digest(document: dict) -> str:
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@transaction.atomic
def generate_assessment(*, actor: str, now: dt.datetime | None = None) -> ImpactAssessment:
    """A new version, kept as generated; earlier versions stay unchanged."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_VERSION_LOCK_KEY])
    last = ImpactAssessment.objects.order_by("-version").values_list("version", flat=True).first()
    version = (last or 0) + 1
    document = assessment_document(version=version, actor=actor, now=now)
    assessment = ImpactAssessment.objects.create(version=version, generated_at=now,
                                                 generated_by=actor, document=document)
    record_event(None, reference=f"DPIA-v{version}", actor=actor, action=ACTION,
                 details={"version": version, "document_sha256": document_digest(document)})
    return assessment
