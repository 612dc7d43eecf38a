"""Embedding the stored photos with another model, so an operator can move
the index from one model to another without scraping again."""

from __future__ import annotations

from django.db import transaction

from search.backends import get_backend
from search.imaging import ImageError, load_image
from search.index import ensure_face_index
from search.ingestion import face_from_detection
from search.matching import is_suppressed
from search.models import Face, Photo


def reembed_photos(*, model: str, progress=None, batch_size: int = 200) -> dict:
    backend = get_backend(model)
    backend.load()
    ensure_face_index(backend)
    todo = (
        Photo.objects.filter(synthetic=False)
        .exclude(faces__model=backend.name)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    ids = list(todo)
    report = {"photos": 0, "faces": 0, "suppressed": 0, "skipped": []}
    iterator = progress(ids, len(ids)) if progress else ids
    for photo_id in iterator:
        photo = Photo.objects.get(pk=photo_id)
        try:
            with photo.image.open("rb") as handle:
                image = load_image(handle.read())
        except (ImageError, OSError) as exc:
            report["skipped"].append({"photo_id": photo_id, "reason": str(exc)})
            continue
        kept = []
        for detected in backend.detect(image):
            if is_suppressed(detected.embedding, model=backend.name):
                report["suppressed"] += 1
            else:
                kept.append(detected)
        with transaction.atomic():
            # Another run may have done this photo meanwhile.
            if Face.objects.filter(photo_id=photo_id, model=backend.name).exists():
                continue
            Face.objects.bulk_create([face_from_detection(photo, d, backend) for d in kept])
        report["photos"] += 1
        report["faces"] += len(kept)
    return report
