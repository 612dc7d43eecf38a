"""Erasing faces from the index: the search side of an erasure.

A face's row (with its embedding) is deleted. A photo left with no other
face is deleted with its file; in a group photo the face is irreversibly
redacted in the stored image (``redaction.rewrite_photo_file``: the file is
replaced in one step and the old bytes overwritten) and the other faces stay
searchable. Customer
search records keep existing but lose the link to the face. Every step is
safe to run again: a photo whose faces are already gone is skipped.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from search.models import CustomerSearchResult, Face, FileToDelete, Photo
from search.redaction import photo_image, redact_face, rewrite_photo_file

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
        keeps_others = photo.faces.exclude(pk__in=[f.pk for f in targets]).exists()
        if keeps_others and photo.image:
            image = photo_image(photo)
            for face in targets:
                image = redact_face(image, face.box)
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
