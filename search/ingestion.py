"""Ingestion: what the crawler does with a scraped image. Detect the faces,
drop those on the suppression list, store the photo and the rest. A face
dropped from a photo that is stored leaves no pixels either: the stored file
is the photo with that face redacted, as an erasure would have it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from search.backends import get_backend
from search.imaging import ImageError, load_image
from search.index import ensure_face_index
from search.matching import is_suppressed
from search.models import Face, Photo, PhotoSource, source_key
from search.redaction import encode, format_for_name, redact_faces


@dataclass
class IngestReport:
    photos: int = 0
    faces: int = 0
    duplicates: int = 0
    suppressed: int = 0
    skipped: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "photos": self.photos,
            "faces": self.faces,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "skipped": self.skipped,
        }


class IngestSkip(Exception):
    """A file that cannot be ingested, with the reason in a sentence."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def face_from_detection(photo: Photo, detected, backend) -> Face:
    left, top, width, height = detected.box
    return Face(
        photo=photo,
        box_left=left,
        box_top=top,
        box_width=width,
        box_height=height,
        landmarks=[list(point) for point in detected.landmarks],
        detector_score=detected.score,
        model=backend.name,
        embedding=detected.embedding,
    )


def ingest_image(
    data: bytes,
    *,
    file_name: str,
    site: str,
    source_url: str,
    page_url: str = "",
    scraped_at: datetime | None = None,
    model: str | None = None,
    report: IngestReport | None = None,
) -> Photo | None:
    """Ingest one image. Returns the new photo, or None when it was already
    there or all its faces are suppressed. Raises :class:`IngestSkip`."""
    report = report if report is not None else IngestReport()
    backend = get_backend(model)
    sha256 = hashlib.sha256(data).hexdigest()
    if PhotoSource.objects.filter(pk=source_key(sha256, source_url)).exists():
        report.duplicates += 1
        return None
    try:
        image = load_image(data)
    except ImageError as exc:
        raise IngestSkip(str(exc)) from exc
    detections = backend.detect(image)
    if not detections:
        raise IngestSkip("no face found")
    kept, refused = [], []
    for detected in detections:
        if is_suppressed(detected.embedding, model=backend.name):
            refused.append(detected)
        else:
            kept.append(detected)
    report.suppressed += len(refused)
    if not kept:
        # Storing the photo would keep the face of someone who asked not to
        # be collected again.
        return None
    if refused:
        # Their face must not stay in the stored file either.
        image = redact_faces(image, [d.box for d in refused], keep=[d.box for d in kept])
        data = encode(image, format_for_name(file_name))
    photo = Photo(
        source_url=source_url,
        page_url=page_url,
        site=site,
        scraped_at=scraped_at or timezone.now(),
        file_name=file_name,
        width=image.shape[1],
        height=image.shape[0],
        # The stored file's hash (the redacted one where a face was refused).
        sha256=hashlib.sha256(data).hexdigest(),
    )
    photo.image.save(file_name, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            photo.save()
            # The key's primary key refuses the same photo stored at the
            # same time by another crawler process.
            # Keyed on the content as scraped, so the same scrape is refused
            # again whether or not a suppressed face was redacted from it.
            PhotoSource(key=source_key(sha256, source_url), photo=photo).save(force_insert=True)
            Face.objects.bulk_create([face_from_detection(photo, d, backend) for d in kept])
    except IntegrityError:
        photo.image.delete(save=False)
        if not PhotoSource.objects.filter(pk=source_key(sha256, source_url)).exists():
            raise
        report.duplicates += 1
        return None
    except Exception:
        photo.image.delete(save=False)
        raise
    report.photos += 1
    report.faces += len(kept)
    return photo


def image_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def ingest_path(
    root: Path,
    *,
    site: str,
    source_url_prefix: str | None = None,
    model: str | None = None,
    batch_size: int = 32,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> IngestReport:
    """Ingest every file under ``root``. A bad file is skipped with its reason
    and the run goes on; running it twice stores nothing new."""
    root = root.resolve()
    backend = get_backend(model)
    ensure_face_index(backend)
    files = image_files(root)
    base = root.parent if root.is_file() else root
    prefix = source_url_prefix or f"file://{base}/"
    if not prefix.endswith("/"):
        prefix += "/"
    report = IngestReport()
    iterator = progress(files) if progress else files
    for path in iterator:
        relative = path.relative_to(base).as_posix()
        try:
            if path.stat().st_size > settings.FACE_UPLOAD_MAX_BYTES:
                raise IngestSkip(str(ImageError(
                    "too_large", limit_mb=f"{settings.FACE_UPLOAD_MAX_BYTES / 2**20:g}"
                )))
            data = path.read_bytes()
            ingest_image(
                data, file_name=path.name, site=site, source_url=prefix + relative,
                model=backend.name, report=report,
            )
        except IngestSkip as exc:
            report.skipped.append({"file": relative, "reason": exc.reason})
        except OSError as exc:
            report.skipped.append({"file": relative, "reason": f"cannot be read ({exc.strerror})"})
    return report
