"""The access job (Art. 15): one ZIP with ``report.html`` in the person's
language, ``data.json`` (the same content; schema in
docs/access-package.schema.json) and the photos, each with every other
face blurred and the person's outlined. Kept ``ACCESS_PACKAGE_DAYS`` days and
downloaded from the status page, in the browser that confirmed the
address, by a short-lived single-use link made there
(``subjects.core.tokens.download_token``; the e-mail carries only the
status link); downloads are audited and the file is purged at expiry."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.crypto import get_random_string

from search.backends import get_backend
from search.erasure import same_faces_in_other_models
from search.models import Customer, CustomerSearchResult, Face, Photo, Suppression
from search.redaction import encode, photo_image, subject_view
from subjects.core import audit, disclosures, events
from subjects.core.faces import disclosed_faces
from subjects.core.notices import notices_of_person
from subjects.core.outbox import queue_email
from subjects.core.states import State
from subjects.jobs.steps import run_step
from subjects.models import AccessPackage, AuditEvent, RequestJob, RightsRequest

SCHEMA_ID = "https://face-rights-portal.example/schemas/access-package/v2"


def plan_access(job: RequestJob) -> None:
    # Only what the person confirmed (and the DPO, for ``possible`` faces):
    # a package never discloses a face on the strength of a search alone.
    faces = disclosed_faces(job.request)
    # One physical face has a row in every model (after ``reembed``); a
    # customer that found it through another model's row received it too,
    # as the erasure counts it. Each such row counts as the disclosed face.
    twin_of = {twin.pk: face_id
               for face_id, twins in same_faces_in_other_models(faces).items()
               for twin in twins}
    recipients = (
        CustomerSearchResult.objects.filter(face_id__in=[*faces, *twin_of])
        .select_related("search__customer").order_by("search__searched_at", "pk")
    )
    job.plan = {
        "faces": {str(k): v for k, v in faces.items()},
        "recipients": [
            {"customer": r.search.customer.name, "kind": r.search.customer.kind,
             "country": r.search.customer.country, "account": r.search.customer.account,
             "searched_at": r.search.searched_at.isoformat(),
             "face_id": twin_of.get(r.face_id, r.face_id),
             "search": r.search_id}
            for r in recipients
        ],
    }


def package_content(request: RightsRequest, plan: dict) -> tuple[dict, dict[str, bytes]]:
    """The package's data (as in data.json) and its image files."""
    faces = {int(k): v for k, v in plan["faces"].items()}
    rows = Face.objects.select_related("photo").in_bulk(list(faces))
    by_photo: dict[int, list[Face]] = {}
    for face in rows.values():
        by_photo.setdefault(face.photo_id, []).append(face)
    photos, files = [], {}
    # The person's own face in every model: another model's row of the same
    # face is theirs, never "another person" to blur (Art. 15(4) protects
    # others, not the person from their own face).
    twins = same_faces_in_other_models(list(rows))
    for number, (_photo_id, own) in enumerate(sorted(by_photo.items()), start=1):
        photo: Photo = own[0].photo
        theirs = {f.pk for f in own} | {t.pk for f in own for t in twins.get(f.pk, [])}
        others = list(photo.faces.exclude(pk__in=theirs))
        entry = {
            "source_url": photo.source_url, "page_url": photo.page_url, "site": photo.site,
            "scraped_at": photo.scraped_at.isoformat(), "width": photo.width,
            "height": photo.height,
            "your_faces": [{"box": list(f.box), "distance": faces[f.pk]["distance"],
                            "confirmed_by_you": faces[f.pk]["confirmed"]} for f in own],
            "other_faces_blurred": len(others), "file": None,
        }
        if not photo.synthetic and photo.image:
            image = photo_image(photo)
            for face in own[1:]:
                image = subject_view(image, face.box, [])
            image = subject_view(image, own[0].box, [o.box for o in others])
            name = f"photos/{number:03d}.jpg"
            files[name] = encode(image)
            entry["file"] = name
        photos.append(entry)
    backend = get_backend(request.selfie_model or None)
    data = {
        "$schema": SCHEMA_ID,
        "reference": request.reference,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "language": request.language,
        "controller": disclosures.controller(),
        "request": {"kinds": request.kinds,
                    "received_at": request.received_at.isoformat() if request.received_at else None,
                    "due_date": request.due_date.isoformat() if request.due_date else None},
        "search": {"model": backend.name, "metric": backend.metric,
                   "match_threshold": backend.match_threshold,
                   "possible_threshold": backend.possible_threshold,
                   "method": "exhaustive scan of every face of the model"},
        "photos": photos,
        "recipients": [{k: v for k, v in r.items() if k not in ("face_id", "search")}
                       for r in plan["recipients"]],
        "transfers": [disclosures.transfer_safeguard(country) for country in
                      sorted({r["country"] for r in plan["recipients"]})],
        "categories": [str(c) for c in disclosures.CATEGORIES],
        "purposes": disclosures.purposes(),
        "erasure_notices": [
            {"customer": n.customer.name, "notified_at": n.notified_at.isoformat(),
             "faces": n.faces, "acknowledged_at": n.acknowledged_at.isoformat()
             if n.acknowledged_at else None, "acknowledged_as": n.acknowledged_as or None}
            for n in notices_of_person(request)
        ],
        "retention": str(disclosures.RETENTION),
        "automated_decision_making": {
            "used": disclosures.AUTOMATED_DECISIONS["used"],
            "explanation": str(disclosures.AUTOMATED_DECISIONS["explanation"])},
        "templates": templates_held(request, list(rows.values())),
        "source_of_data": str(disclosures.SOURCE),
        **requests_and_events_of(request),
        "rights": [str(r) for r in disclosures.RIGHTS],
        "supervisory_authority": disclosures.authority(),
    }
    return data, files


def templates_held(request: RightsRequest, faces: list[Face]) -> list[dict]:
    """Art. 15: every face template held about the person, described by its
    model and dimension (never its numbers): the selfie's while the request
    is open, one per face and model in the index, and those kept on the
    suppression list."""
    held = []
    if request.selfie_embedding is not None:
        held.append({"kind": "selfie", "model": request.selfie_model,
                     "dimension": len(request.selfie_embedding), "count": 1})
    per_model: dict[str, list[int]] = {}
    for face in faces:
        per_model.setdefault(face.model, [len(face.embedding), 0])[1] += 1
    for others in same_faces_in_other_models([f.pk for f in faces]).values():
        for other in others:
            per_model.setdefault(other.model, [len(other.embedding), 0])[1] += 1
    held += [{"kind": "face_in_index", "model": model, "dimension": dimension, "count": count}
             for model, (dimension, count) in sorted(per_model.items())]
    references = same_person(request).values("reference")
    for kept in Suppression.objects.filter(request_reference__in=references).order_by("pk"):
        held.append({"kind": "suppression", "model": kept.model,
                     "dimension": len(kept.embedding), "count": 1})
    return held


ACTORS = {audit.REQUESTER: "you", audit.SYSTEM: "system"}


def same_person(request: RightsRequest):
    """The requests made from the person's exact verified address (a purged
    request: only itself)."""
    return request.same_address()


def requests_and_events_of(request: RightsRequest) -> dict:
    """Every request filed from the person's address, and its audit trail."""
    requests = list(same_person(request).order_by("created_at"))
    trail = AuditEvent.objects.filter(request__in=requests).order_by("pk")
    return {
        "your_requests": [
            {"reference": r.reference, "kinds": r.kinds, "state": r.state,
             "created_at": r.created_at.isoformat(),
             "received_at": r.received_at.isoformat() if r.received_at else None,
             "closed_at": r.closed_at.isoformat() if r.closed_at else None,
             # What the categories say is held of a request: the address and
             # language, the answers about the matches, the decisions.
             "email_address": r.email, "language": r.language,
             "answers": [{"face": m.face_id, "photo": m.photo_id_at_search, "tier": m.tier,
                          "answer": m.decision} for m in r.matches.exclude(decision="")
                         .order_by("pk")],
             "decisions": [{"right": d.right, "outcome": d.outcome, "reason": d.reason}
                           for d in r.right_decisions.order_by("pk")]}
            for r in requests],
        "audit_events": [
            {"reference": e.reference, "at": e.at.isoformat(), "action": e.action,
             "label": events.label(e.action), "actor": ACTORS.get(e.actor, "dpo"),
             "from_state": e.from_state, "to_state": e.to_state, "reason": e.reason}
            for e in trail],
    }


def _when(value: str | None) -> dt.datetime | dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)


def report_of(data: dict, plan: dict) -> dict:
    """The human-readable report's reading of ``data`` (data.json keeps its
    codes and ISO timestamps for machines): dates as dates, to be written in
    the person's language; codes by their names; one row per customer
    search, with the photos of the report it returned."""
    faces = {int(k) for k in plan.get("faces", {})}
    photo_of = dict(Face.objects.filter(pk__in=faces).values_list("pk", "photo_id"))
    # Numbered as package_content numbers the photos: by photo id.
    number = {photo_id: n for n, photo_id in enumerate(sorted(set(photo_of.values())), start=1)}
    searches: dict = {}
    for r in plan.get("recipients", []):
        key = r.get("search") or (r["customer"], r["searched_at"])
        row = searches.setdefault(key, {
            "customer": r["customer"],
            "kind": _label(Customer.Kind, r["kind"]),
            "country": r["country"],
            "account": _label(Customer.Account, r["account"]),
            "searched_at": _when(r["searched_at"]),
            "photos": set()})
        if r.get("face_id") in photo_of:
            row["photos"].add(number[photo_of[r["face_id"]]])
    rows = sorted(searches.values(), key=lambda row: row["searched_at"])
    for row in rows:
        row["photos"] = sorted(row["photos"])
    return {
        "generated_at": _when(data["generated_at"]),
        "time_zone": timezone.get_current_timezone_name(),
        "photos": [{**p, "scraped_at": _when(p["scraped_at"])} for p in data["photos"]],
        "searches": rows,
        "notices": [{**n, "notified_at": _when(n["notified_at"]),
                     "acknowledged_at": _when(n["acknowledged_at"])}
                    for n in data.get("erasure_notices", [])],
        "requests": [{**r, "state": _label(State, r["state"]),
                      "kinds": [_label(RightsRequest.Kind, k) for k in r["kinds"]],
                      "created_at": _when(r["created_at"]), "closed_at": _when(r["closed_at"])}
                     for r in data.get("your_requests", [])],
        "events": [{**e, "at": _when(e["at"])} for e in data.get("audit_events", [])],
    }


def _label(choices, code: str) -> str:
    try:
        return str(choices(code).label)
    except ValueError:
        return code


def build_package(job: RequestJob) -> None:
    request = job.request
    if AccessPackage.objects.filter(request=request).exclude(file="").exists():
        # Built before its worker was cut off: the result is what that build
        # recorded, in the same transaction as the package.
        built = request.events.filter(action=events.Action.PACKAGE_BUILT).latest("at")
        job.result = {"photos": built.details["photos"],
                      "recipients": built.details["recipients"]}
        return
    with translation.override(request.language):
        data, files = package_content(request, job.plan)
        report = render_to_string("subjects/access_report.html",
                                  {"data": data, "report": report_of(data, job.plan)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("report.html", report)
        archive.writestr("data.json", json.dumps(data, indent=2, ensure_ascii=False))
        for name, content in files.items():
            archive.writestr(name, content)
    payload = buffer.getvalue()
    now = timezone.now()
    with transaction.atomic():
        package = AccessPackage(
            request=request, size=len(payload), sha256=hashlib.sha256(payload).hexdigest(),
            created_at=now, expires_at=now + dt.timedelta(days=settings.ACCESS_PACKAGE_DAYS),
        )
        package.file.save(f"{request.reference}-{get_random_string(12)}.zip",
                          ContentFile(payload), save=False)
        package.save()
        events.package_built(request, photos=len(data["photos"]),
                             recipients=len(data["recipients"]), size=len(payload))
    job.result = {"photos": len(data["photos"]), "recipients": len(data["recipients"])}


def notify_ready(job: RequestJob) -> None:
    queue_email(job.request, "access_ready", event_key=f"access_ready:{job.request.reference}")


def run_access_job(job: RequestJob) -> None:
    run_step(job, "plan", lambda: plan_access(job))
    run_step(job, "build", lambda: build_package(job))
    run_step(job, "notify", lambda: notify_ready(job))


def record_download(package: AccessPackage, *, actor: str = audit.REQUESTER) -> bool:
    """Record a download in the audit trail. The person's download uses up
    its link: claimed by the download count the link signed, so of two
    clicks on one link only one gets the file (False for the other)."""
    with transaction.atomic():
        if actor == audit.REQUESTER:
            claimed = AccessPackage.objects.filter(
                pk=package.pk, downloads=package.downloads).update(downloads=F("downloads") + 1)
            if not claimed:
                return False
        events.package_downloaded(package.request, actor=actor)
    return True


def purge_expired_packages(*, now=None, batch_size: int = 200) -> int:
    now = now or timezone.now()
    purged = 0
    for package in AccessPackage.objects.filter(expires_at__lte=now, purged_at__isnull=True)[
        :batch_size
    ]:
        with transaction.atomic():
            if package.file:
                package.file.delete(save=False)
            package.purged_at = now
            package.save(update_fields=["file", "purged_at"])
            events.package_purged(package.request)
        purged += 1
    return purged
