"""Erasing faces from the index: the search side of an erasure.

A face's row (with its embedding) is deleted. A photo left with no other
face is deleted with its file; in a group photo the face is irreversibly
redacted in the stored image and the other faces stay searchable. Customer
search records keep existing but lose the link to the face. Every step is
safe to run again: a photo whose faces are already gone is skipped.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from search.models import CustomerSearchResult, Face, FileToDelete, Photo

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
    from search.redaction import encode, photo_image, redact_face

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
        old_name = photo.image.name
        if keeps_others:
            image = photo_image(photo)
            for face in targets:
                image = redact_face(image, face.box)
            extension = old_name.rsplit(".", 1)[-1].lower() if "." in old_name else "jpg"
            data = encode(image, format="PNG" if extension == "png" else "JPEG")
            # A new file, then the old one queued for deletion in this same
            # transaction: the unredacted bytes cannot outlive a crash.
            photo.sha256 = hashlib.sha256(data).hexdigest()
            photo.image.save(f"redacted.{extension}", ContentFile(data), save=False)
            photo.save(update_fields=["image", "sha256"])
            Face.objects.filter(pk__in=[f.pk for f in targets]).delete()
            outcome["redacted"] = True
        else:
            photo.delete()
            outcome["photo_deleted"] = True
        if old_name:
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
