"""The erasure job (Art. 17), also run for an objection (Art. 21).

Steps, each recorded when done: ``plan`` (the exhaustive list of the
person's faces and who received them), one ``photo:<id>`` step per photo,
``suppress`` (their template on the suppression list, if they chose it),
``verify`` (a final exhaustive search must find nothing of theirs), and
``notices`` (Art. 19 notices to every customer that received a face).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from search.backends import get_backend
from search.erasure import erase_faces_of_photo, recipients_of
from search.imaging import load_image
from search.matching import Tier, find_all_candidates
from search.models import Customer, Photo, Suppression
from subjects.core.faces import faces_of_subject
from subjects.core.outbox import queue_email
from subjects.jobs.steps import JobFailed, run_step
from subjects.models import Match, RequestJob


def plan_erasure(job: RequestJob) -> None:
    request = job.request
    faces = faces_of_subject(request)
    photos: dict[int, list[int]] = {}
    for face_id, info in faces.items():
        photos.setdefault(info["photo_id"], []).append(face_id)
    # The completion e-mail names only photos of faces the person (or, for a
    # ``possible`` one, the DPO) confirmed; the others are counted, not named.
    confirmed = {info["photo_id"] for info in faces.values() if info["confirmed"]}
    described = {
        photo.pk: {"site": photo.site, "scraped_at": photo.scraped_at.isoformat(),
                   "faces_in_photo": photo.faces.count(), "named": photo.pk in confirmed}
        for photo in Photo.objects.filter(pk__in=photos)
    }
    job.plan = {
        "faces": sorted(faces),
        "photos": {str(pk): sorted(ids) for pk, ids in photos.items()},
        "photo_info": {str(pk): info for pk, info in described.items()},
        "recipients": {str(c): ids for c, ids in recipients_of(sorted(faces)).items()},
    }


def erase_photo(job: RequestJob, photo_id: str) -> None:
    # Safe to repeat: a photo whose planned faces are gone is skipped.
    erase_faces_of_photo(int(photo_id), job.plan["photos"][photo_id])


def erased_so_far(job: RequestJob) -> dict:
    """What the erasure did, read from the plan and the database (never
    counted along the way, so a resumed job reports the same as an
    uninterrupted one)."""
    planned_photos = [int(pk) for pk in job.plan["photos"]]
    remaining = set(Photo.objects.filter(pk__in=planned_photos).values_list("pk", flat=True))
    info = job.plan["photo_info"]
    return {
        "faces_erased": len(job.plan["faces"]),
        "photos_deleted": len(planned_photos) - len(remaining),
        "photos_redacted": len(remaining),
        "redacted_photo_ids": sorted(remaining),
        "photos": [
            {"site": info[str(pk)]["site"], "scraped_at": info[str(pk)]["scraped_at"],
             "outcome": "redacted" if pk in remaining else "deleted"}
            for pk in sorted(planned_photos) if info[str(pk)].get("named", True)
        ],
    }


def suppress(job: RequestJob) -> None:
    request = job.request
    if not request.keep_template or request.selfie_embedding is None:
        return
    Suppression.objects.get_or_create(
        request_reference=request.reference, model=request.selfie_model,
        defaults={"embedding": request.selfie_embedding,
                  "reason": (Suppression.Reason.OBJECTION if request.objection
                             else Suppression.Reason.ERASURE)},
    )
    job.result = {**job.result, "template_kept_to_block_recollection": True}


def verify(job: RequestJob) -> None:
    """Proof: nothing planned is left, a fresh exhaustive search finds no
    face of theirs, and no redacted photo shows their face to the model."""
    request = job.request
    planned = set(job.plan["faces"])
    if request.selfie_embedding is None:
        return
    not_mine = set(request.matches.filter(decision=Match.Decision.NOT_MINE)
                   .values_list("face_id", flat=True))
    left = [c for c in find_all_candidates(request.selfie_embedding, model=request.selfie_model)
            if c.face_id in planned or (c.tier == Tier.MATCH and c.face_id not in not_mine)]
    if left:
        raise JobFailed(f"{len(left)} face(s) of the person are still in the index after the "
                        f"erasure: {[c.face_id for c in left][:10]}")
    backend = get_backend(request.selfie_model)
    job.result = {**job.result, **erased_so_far(job)}
    for photo in Photo.objects.filter(pk__in=job.result["redacted_photo_ids"]):
        with photo.image.open("rb") as handle:
            image = load_image(handle.read())
        for face in backend.detect(image):
            if backend.distance(face.embedding, request.selfie_embedding) <= \
                    backend.match_threshold:
                raise JobFailed(f"photo {photo.pk} still shows the person's face after "
                                "redaction")
    job.result = {**job.result, "verified_at": timezone.now().isoformat()}


def send_notices(job: RequestJob) -> None:
    request = job.request
    recipients = job.plan["recipients"]
    with transaction.atomic():
        for customer in Customer.objects.filter(pk__in=[int(c) for c in recipients]):
            if not customer.contact_email:
                continue
            queue_email(
                request, "art19_notice", event_key=f"art19:{request.reference}:{customer.pk}",
                recipient=customer.contact_email, language="en",
                context={"customer": customer.name, "faces": len(recipients[str(customer.pk)])},
            )
        request.matches.filter(face_id__isnull=True, erased_at__isnull=True,
                               decision=Match.Decision.MINE).update(erased_at=timezone.now())
    job.result = {**job.result, "recipients_notified": len(recipients)}


def run_erasure_job(job: RequestJob) -> None:
    run_step(job, "plan", lambda: plan_erasure(job))
    for photo_id in sorted(job.plan["photos"], key=int):
        run_step(job, f"photo:{photo_id}", lambda p=photo_id: erase_photo(job, p))
    run_step(job, "suppress", lambda: suppress(job))
    run_step(job, "verify", lambda: verify(job))
    run_step(job, "notices", lambda: send_notices(job))
