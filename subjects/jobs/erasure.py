"""The erasure job (Art. 17), also run for an objection (Art. 21), over every
face model of the index.

Steps, each recorded when done: ``plan`` (the exhaustive list of the
person's faces in every model and who received them), one ``photo:<id>``
step per photo, ``suppress`` (their templates on the suppression list, one
per model, if they chose it), ``verify`` (a final exhaustive search in every
model must find nothing of theirs), and ``notices`` (Art. 19 notices to every
customer that received a face).

Across models: the faces the selfie's model finds (``faces_of_subject``)
lead to the same faces' rows in the other models (same photo, a box around
the same face: ``search.erasure.same_faces_in_other_models``); those rows'
embeddings are the *seeds* of each other model, and an exhaustive search
with them finds the person's faces that only that model holds (photos
ingested after a switch of model). The seeds live in the plan until the
final check has used them.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from search.backends import get_backend
from search.erasure import (
    erase_faces_of_photo,
    models_with_faces,
    recipients_of,
    same_faces_in_other_models,
    searches_of,
)
from search.imaging import load_image
from search.matching import Tier, find_all_candidates
from search.models import Customer, Face, Photo, Suppression
from search.redaction import regions_around
from subjects.core import events
from subjects.core.faces import faces_of_subject, unclaimed_face_ids
from subjects.core.notices import record_notice
from subjects.core.outbox import queue_email
from subjects.jobs.steps import JobFailed, run_step
from subjects.models import Match, RequestJob


def seeds_of(request, faces: dict[int, dict]) -> tuple[dict[str, list[dict]], dict[int, int]]:
    """Each other model's rows of the person's faces, nearest to the selfie
    first (``{"face", "distance", "embedding"}``), and which face of the
    selfie's model each row is."""
    seeds: dict[str, list[dict]] = {}
    same_as: dict[int, int] = {}
    for face_id, others in sorted(same_faces_in_other_models(faces).items()):
        for other in others:
            same_as[other.pk] = face_id
            seeds.setdefault(other.model, []).append(
                {"face": other.pk, "distance": faces[face_id]["distance"],
                 "embedding": [float(v) for v in other.embedding]})
    for rows in seeds.values():
        rows.sort(key=lambda seed: (seed["distance"], seed["face"]))
    return seeds, same_as


def found_with_seeds(seeds: dict[str, list[dict]], excluded: set[int]) -> dict[int, int]:
    """Face id -> photo id of every face an exhaustive search with a model's
    seeds puts in that model's ``match`` tier (bar faces of someone else)."""
    found: dict[int, int] = {}
    for model, rows in seeds.items():
        for seed in rows:
            for candidate in find_all_candidates(seed["embedding"], model=model):
                if candidate.tier == Tier.MATCH and candidate.face_id not in excluded:
                    found[candidate.face_id] = candidate.photo_id
    return found


def plan_erasure(job: RequestJob) -> None:
    request = job.request
    faces = faces_of_subject(request)
    not_mine = unclaimed_face_ids(request)
    # A face not confirmed as theirs is not theirs in any model either.
    excluded = {other.pk for others in same_faces_in_other_models(not_mine).values()
                for other in others} | not_mine
    seeds, same_as = seeds_of(request, faces)
    photo_of = {face_id: info["photo_id"] for face_id, info in faces.items()}
    photo_of.update(Face.objects.filter(pk__in=same_as).values_list("pk", "photo_id"))
    found = {k: v for k, v in found_with_seeds(seeds, excluded).items() if k not in photo_of}
    # A face another model found is the same face in every model too.
    again = {o.pk: o.photo_id for others in same_faces_in_other_models(found).values()
             for o in others if o.pk not in excluded and o.pk not in found}
    photo_of.update(found)
    photo_of.update(again)
    photos: dict[int, list[int]] = {}
    for face_id, photo_id in photo_of.items():
        photos.setdefault(photo_id, []).append(face_id)
    # The completion e-mail names only photos of faces the person (or, for a
    # ``possible`` one, the DPO) confirmed; the others are counted, not named.
    confirmed = {info["photo_id"] for info in faces.values() if info["confirmed"]}
    described = {
        photo.pk: {"site": photo.site, "scraped_at": photo.scraped_at.isoformat(),
                   "file": photo.image.name, "named": photo.pk in confirmed}
        for photo in Photo.objects.filter(pk__in=photos)
    }
    per_model: dict[str, int] = {}
    for model in Face.objects.filter(pk__in=photo_of).values_list("model", flat=True):
        per_model[model] = per_model.get(model, 0) + 1
    job.plan = {
        "faces": sorted(photo_of),
        # Faces as a person counts them: one per face, however many models hold it.
        "faces_seen": len(photo_of) - len(same_as) - len(again),
        "models": per_model,
        # What identifies each face should a restored backup bring it back
        # (subjects/jobs/reapply.py): ids alone may be reused after a restore.
        "boxes": {str(face.pk): list(face.box) for face in Face.objects.filter(pk__in=photo_of)},
        "photos": {str(pk): sorted(ids) for pk, ids in photos.items()},
        "photo_info": {str(pk): info for pk, info in described.items()},
        "recipients": {str(c): ids for c, ids in recipients_of(sorted(photo_of)).items()},
        "searches": {str(c): rows for c, rows in searches_of(sorted(photo_of)).items()},
        "excluded": sorted(excluded),
        "seeds": seeds,
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
        "faces_erased": job.plan.get("faces_seen", len(job.plan["faces"])),
        "embeddings_erased": job.plan.get("models", {}),
        "photos_deleted": len(planned_photos) - len(remaining),
        "photos_redacted": len(remaining),
        "redacted_photo_ids": sorted(remaining),
        "photos": [
            {"site": info[str(pk)]["site"], "scraped_at": info[str(pk)]["scraped_at"],
             "outcome": "redacted" if pk in remaining else "deleted"}
            for pk in sorted(planned_photos) if info[str(pk)].get("named", True)
        ],
    }


def templates_of(job: RequestJob) -> dict[str, list[float]]:
    """Model -> the person's template in it: the selfie's in its model, and
    in each other model the row of their face nearest to the selfie."""
    request = job.request
    templates = {model: rows[0]["embedding"] for model, rows in job.plan.get("seeds", {}).items()}
    if request.selfie_embedding is not None:
        templates[request.selfie_model] = [float(v) for v in request.selfie_embedding]
    return templates


def suppress(job: RequestJob) -> None:
    """With the person's explicit choice only: one template per model, kept
    only to refuse their face at ingest (``search.matching.is_suppressed``)."""
    request = job.request
    if not request.keep_template:
        return
    reason = Suppression.Reason.OBJECTION if request.objection else Suppression.Reason.ERASURE
    kept = []
    for model, embedding in sorted(templates_of(job).items()):
        Suppression.objects.get_or_create(request_reference=request.reference, model=model,
                                          defaults={"embedding": embedding, "reason": reason})
        kept.append(model)
    job.result = {**job.result, "template_kept_to_block_recollection": bool(kept),
                  "templates_kept_for_models": kept}


def template_kept(request) -> bool:
    """Whether a template of the person is kept for the request to refuse
    their face at ingest (the status page then offers to withdraw that)."""
    return Suppression.objects.filter(request_reference=request.reference).exists()


def withdraw_template_consent(request, *, actor: str) -> int:
    """Art. 7(3): the person withdrew their consent to keeping their template
    (with the button on their status page, as easy as the tick that gave it,
    or by writing to the DPO, who runs ``manage.py forget_template``): every
    template kept for the request goes, and the trail records it. Their face
    may be collected again from then on. Returns how many were deleted."""
    with transaction.atomic():
        deleted, _ = Suppression.objects.filter(request_reference=request.reference).delete()
        if deleted:
            events.template_consent_withdrawn(request, actor=actor, templates=deleted)
    return deleted


#: How far around a redacted box the final check looks for a face that is
#: still there: half the box's size on every side (the detector's window
#: needs the face whole, with some of its surroundings).
REGION_MARGIN = 0.5


def verify(job: RequestJob) -> None:
    """Proof, in every model that has embeddings: nothing planned is left, a
    fresh exhaustive search with the person's template in that model finds
    no face of theirs, and no redacted photo shows their face to that model.
    A model without a template of theirs cannot be searched: the result says
    so, and the e-mail with it."""
    request = job.request
    planned = set(job.plan["faces"])
    excluded = set(job.plan.get("excluded", []))
    templates = templates_of(job)
    job.result = {**job.result, **erased_so_far(job)}
    if planned & set(Face.objects.filter(pk__in=planned).values_list("pk", flat=True)):
        raise JobFailed("faces planned for erasure are still in the index")
    redacted = list(Photo.objects.filter(pk__in=job.result["redacted_photo_ids"]))
    checked, not_checked = [], []
    for model in sorted(set(models_with_faces()) | set(templates)):
        if model not in templates:
            not_checked.append(model)
            continue
        # The selfie's own model: the search runs with the selfie's template;
        # other models: with each row of the person's faces they held.
        queries = ([templates[model]] if model == request.selfie_model
                   else [seed["embedding"] for seed in job.plan["seeds"][model]])
        for query in queries:
            left = [c for c in find_all_candidates(query, model=model)
                    if c.face_id in planned
                    or (c.tier == Tier.MATCH and c.face_id not in excluded)]
            if left:
                raise JobFailed(f"{len(left)} face(s) of the person are still in the {model} "
                                f"index after the erasure: {[c.face_id for c in left][:10]}")
        backend = get_backend(model)
        for photo in redacted:
            with photo.image.open("rb") as handle:
                image = load_image(handle.read())
            # Only around the boxes redacted out of it: every other face of
            # the photo is in the index, and the search above cleared them.
            boxes = [job.plan["boxes"][str(face_id)]
                     for face_id in job.plan["photos"].get(str(photo.pk), [])
                     if str(face_id) in job.plan.get("boxes", {})]
            found = (backend.detect_in_regions(
                regions_around(image, boxes, margin=REGION_MARGIN), image) if boxes
                else backend.detect(image))
            for face in found:
                if any(backend.distance(face.embedding, query) <= backend.match_threshold
                       for query in queries):
                    raise JobFailed(f"photo {photo.pk} still shows the person's face to "
                                    f"{model} after redaction")
        checked.append(model)
    job.result = {
        **job.result,
        "final_check": "passed" if checked else "not_run",
        "models_checked": checked,
        "models_not_checked": not_checked,
        "verified_at": timezone.now().isoformat() if checked else None,
    }
    # The seeds have served: no template of theirs stays in the job's plan.
    job.plan = {**job.plan, "seeds": {model: [] for model in job.plan.get("seeds", {})}}


def notice_searches(plan: dict, customer_id: int) -> list[dict]:
    """The customer's searches an Art. 19 notice covers, as its e-mail
    writes them (UTC; the customer reads them against its own log)."""
    return [{"search": row["search"], "ranks": row["ranks"], "faces": row["faces"],
             "searched_at": dt.datetime.fromisoformat(row["searched_at"])
             .astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
            for row in plan.get("searches", {}).get(str(customer_id), [])]


def send_notices(job: RequestJob) -> None:
    """Art. 19: every customer that received one of the person's faces is
    told; one without a contact address cannot be, and the DPO is asked to
    reach it another way. The person is told both figures."""
    request = job.request
    recipients = job.plan["recipients"]
    customers = list(Customer.objects.filter(pk__in=[int(c) for c in recipients]).order_by("pk"))
    told = [c for c in customers if c.contact_email]
    unreachable = [c for c in customers if not c.contact_email]
    with transaction.atomic():
        for customer in told:
            notice = record_notice(request, customer, faces=len(recipients[str(customer.pk)]))
            queue_email(
                request, "art19_notice", event_key=f"art19:{request.reference}:{customer.pk}",
                recipient=customer.contact_email, language="en",
                context={"customer": customer.name, "faces": notice.faces, "notice": notice.pk,
                         "searches": notice_searches(job.plan, customer.pk)},
            )
        if unreachable:
            queue_email(request, "dpo_recipients_without_contact",
                        event_key=f"dpo_recipients_without_contact:{request.reference}",
                        context={"customers": [c.name for c in unreachable]})
        request.matches.filter(face_id__isnull=True, erased_at__isnull=True,
                               decision=Match.Decision.MINE).update(erased_at=timezone.now())
    job.result = {**job.result, "recipients_notified": len(told),
                  "recipients_without_contact": len(unreachable)}


def run_erasure_job(job: RequestJob) -> None:
    run_step(job, "plan", lambda: plan_erasure(job))
    for photo_id in sorted(job.plan["photos"], key=int):
        run_step(job, f"photo:{photo_id}", lambda p=photo_id: erase_photo(job, p))
    run_step(job, "suppress", lambda: suppress(job))
    run_step(job, "verify", lambda: verify(job))
    run_step(job, "notices", lambda: send_notices(job))
