"""Erasing faces from the index: the search side of an erasure.

A face's row (with its embedding) is deleted. A photo left with no other
face (of any model) is deleted with its file; in a group photo the face is
irreversibly redacted in the stored image (``redaction.rewrite_photo_file``:
the file is replaced in one step and the old bytes overwritten) and the other
faces stay searchable. Customer search records keep existing but lose the
link to the face. Every step is safe to run again: a photo whose faces are
already gone is skipped.

A photo embedded by several models (after ``reembed``) holds one row per
model for each face it shows; :func:`same_faces_in_other_models` finds, for
a face of one model, the rows of the other models that are that same face,
so an erasure takes every model's embedding of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from search.models import CustomerSearchResult, Face, FileToDelete, Photo
from search.redaction import photo_image, redact_faces, rewrite_photo_file

logger = logging.getLogger(__name__)


def recipients_of(face_ids: list[int]) -> dict[int, list[int]]:
    """Customer id -> the faces (of ``face_ids``) its searches returned."""
    result: dict[int, set[int]] = {}
    rows = CustomerSearchResult.objects.filter(face_id__in=face_ids).values_list(
        "search__customer_id", "face_id"
    )
    for customer_id, face_id in rows:
        result.setdefault(customer_id, set()).add(face_id)
    return {customer: sorted(faces) for customer, faces in result.items()}


def searches_of(face_ids: list[int]) -> dict[int, list[dict]]:
    """Customer id -> the searches that returned any of ``face_ids``, each
    as {"search", "searched_at" (ISO), "ranks", "faces"}, oldest first: what
    an Art. 19 notice names, so the customer can find the copies."""
    result: dict[int, dict[int, dict]] = {}
    rows = (CustomerSearchResult.objects.filter(face_id__in=face_ids)
            .values_list("search__customer_id", "search_id", "search__searched_at", "rank",
                         "face_id").order_by("search__searched_at", "search_id", "rank"))
    for customer_id, search_id, searched_at, rank, face_id in rows:
        entry = result.setdefault(customer_id, {}).setdefault(search_id, {
            "search": search_id, "searched_at": searched_at.isoformat(), "ranks": [],
            "faces": []})
        entry["ranks"].append(rank)
        entry["faces"].append(face_id)
    return {customer: list(searches.values()) for customer, searches in result.items()}


def models_with_faces() -> list[str]:
    """Every model that has embeddings in the index."""
    return sorted(Face.objects.order_by().values_list("model", flat=True).distinct())


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    left, top, width, height = box
    return left + width / 2, top + height / 2


def _holds(box: tuple[int, int, int, int], point: tuple[float, float]) -> bool:
    left, top, width, height = box
    return left <= point[0] < left + width and top <= point[1] < top + height


def same_faces_in_other_models(face_ids: Iterable[int]) -> dict[int, list[Face]]:
    """Face id -> the faces of the other models in the same photo that are
    the same face: a box that holds this face's centre and no other face's
    centre of this face's model (two detectors draw different boxes around
    one face, but each box holds its centre; a box around two faces is no
    one's). The faces come with their embeddings."""
    targets = list(Face.objects.filter(pk__in=list(face_ids)))
    in_photo: dict[int, list[Face]] = {}
    for face in Face.objects.filter(photo_id__in={t.photo_id for t in targets}).order_by("pk"):
        in_photo.setdefault(face.photo_id, []).append(face)
    same: dict[int, list[Face]] = {}
    for target in targets:
        neighbours = [f for f in in_photo[target.photo_id]
                      if f.model == target.model and f.pk != target.pk]
        same[target.pk] = [
            other for other in in_photo[target.photo_id]
            if other.model != target.model and _holds(other.box, _centre(target.box))
            and not any(_holds(other.box, _centre(n.box)) for n in neighbours)
        ]
    return same


def erase_faces_of_photo(photo_id: int, face_ids: list[int]) -> dict:
    """Erase ``face_ids`` of one photo. Returns what was done:
    ``{"faces": n, "photo_deleted": bool, "redacted": bool}`` (all zero/False
    when it was done before)."""
    outcome = {"faces": 0, "photo_deleted": False, "redacted": False}
    with transaction.atomic():
        photo = Photo.objects.select_for_update().filter(pk=photo_id).first()
        if photo is None:
            return outcome
        targets = list(photo.faces.filter(pk__in=face_ids))
        if not targets:
            return outcome
        now = timezone.now()
        CustomerSearchResult.objects.filter(face__in=targets).update(face=None,
                                                                     face_erased_at=now)
        others = [f.box for f in photo.faces.exclude(pk__in=[f.pk for f in targets])
                  .only("box_left", "box_top", "box_width", "box_height")]
        keeps_others = bool(others)
        if keeps_others and photo.image:
            image = redact_faces(photo_image(photo), [f.box for f in targets], keep=others)
            # The file is redacted before the rows go: a crash in between
            # leaves the faces to erase again from an already redacted file,
            # never rows gone with the face still in the file.
            rewrite_photo_file(photo, image)
            Face.objects.filter(pk__in=[f.pk for f in targets]).delete()
            outcome["redacted"] = True
        elif keeps_others:
            Face.objects.filter(pk__in=[f.pk for f in targets]).delete()
        else:
            old_name = photo.image.name
            photo.delete()
            outcome["photo_deleted"] = True
            if old_name:
                # Deleted after commit: a rolled-back erasure keeps its file.
                FileToDelete.objects.get_or_create(name=old_name)
        outcome["faces"] = len(targets)
    delete_pending_files()
    return outcome


def delete_pending_files(limit: int = 1000) -> int:
    """Delete the files queued for deletion (idempotent)."""
    deleted = 0
    for pending in FileToDelete.objects.order_by("pk")[:limit]:
        default_storage.delete(pending.name)
        pending.delete()
        deleted += 1
    return deleted
