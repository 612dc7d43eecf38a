"""The access job (Art. 15): one ZIP with ``report.html`` in the person's
language, ``data.json`` (the same content; schema in
docs/access-package.schema.json) and the photos, each with every other
face blurred and the person's outlined. Delivered by a signed link scoped
to the request (``subjects.core.tokens.download_token``), valid
``ACCESS_PACKAGE_DAYS`` days; downloads are audited and the file is purged
at expiry."""

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
from search.models import CustomerSearchResult, Face, Photo
from search.redaction import encode, photo_image, subject_view
from subjects.core import audit, disclosures, events
from subjects.core.faces import faces_of_subject
from subjects.core.outbox import queue_email
from subjects.jobs.steps import run_step
from subjects.models import AccessPackage, RequestJob, RightsRequest

SCHEMA_ID = "https://face-rights-portal.example/schemas/access-package/v1"


def plan_access(job: RequestJob) -> None:
    faces = faces_of_subject(job.request)
    recipients = (
        CustomerSearchResult.objects.filter(face_id__in=faces)
        .select_related("search__customer").order_by("search__searched_at")
    )
    job.plan = {
        "faces": {str(k): v for k, v in faces.items()},
        "recipients": [
            {"customer": r.search.customer.name, "kind": r.search.customer.kind,
             "country": r.search.customer.country, "account": r.search.customer.account,
             "searched_at": r.search.searched_at.isoformat(), "face_id": r.face_id}
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
    for number, (_photo_id, own) in enumerate(sorted(by_photo.items()), start=1):
        photo: Photo = own[0].photo
        others = list(photo.faces.exclude(pk__in=[f.pk for f in own]))
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
        "recipients": [{k: v for k, v in r.items() if k != "face_id"}
                       for r in plan["recipients"]],
        "purposes": [str(p) for p in disclosures.PURPOSES],
        "retention": str(disclosures.RETENTION),
        "source_of_data": str(disclosures.SOURCE),
        "rights": [str(r) for r in disclosures.RIGHTS],
        "supervisory_authority": disclosures.authority(),
    }
    return data, files


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
        report = render_to_string("subjects/access_report.html", {"data": data})
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


def record_download(package: AccessPackage, *, actor: str = audit.REQUESTER) -> None:
    with transaction.atomic():
        if actor == audit.REQUESTER:
            AccessPackage.objects.filter(pk=package.pk).update(downloads=F("downloads") + 1)
        events.package_downloaded(package.request, actor=actor)


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
