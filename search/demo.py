"""Demo data: real photos of people, synthetic filler faces to give the index
a realistic size, customers and a search log.

The real photos are never part of this repository. They come from a folder
of labelled photos: ``seed_demo --photos DIR``, else ``FACE_SAMPLES_DIR``
(default ``../shared/faces``) when it exists, else the sample images that
installed packages ship (:data:`PACKAGE_PHOTOS`), so the demo also runs on a
bare machine. The synthetic faces are random vectors on photos marked
``synthetic`` from the site ``synthetic.invalid``: they match nobody.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import random
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from portal import samples
from search.backends import get_backend
from search.index import ensure_face_index
from search.ingestion import IngestReport, ingest_image
from search.models import Customer, CustomerSearch, CustomerSearchResult, Face, Photo, PhotoSource

#: Without a folder of labelled photos: sample images inside installed
#: packages, as (package, path inside it). insightface's group photo and
#: aligned face crop, scikit-image's astronaut (insightface's other images are
#: face masks, with no face).
PACKAGE_PHOTOS = [
    ("insightface", "data/images/t1.jpg"),
    ("insightface", "data/images/Tom_Hanks_54745.png"),
    ("skimage", "data/astronaut.png"),
]
SYNTHETIC_SITE = "synthetic.invalid"
DEMO_SITES = ["photos.example", "social.example", "news.example", "blog.example"]

CUSTOMERS = [
    # name, kind, country, account, trial days (None: paid)
    ("Metropolitan Police Service", Customer.Kind.LAW_ENFORCEMENT, "GB", 30),
    ("Polizei Hamburg", Customer.Kind.LAW_ENFORCEMENT, "DE", 30),
    ("Politie Eenheid Rotterdam", Customer.Kind.LAW_ENFORCEMENT, "NL", None),
    ("Police judiciaire fédérale", Customer.Kind.LAW_ENFORCEMENT, "BE", 60),
    ("MegaMart Stores", Customer.Kind.RETAIL, "FR", None),
    ("Boutique Lumière", Customer.Kind.RETAIL, "FR", 14),
    ("First Continental Bank", Customer.Kind.BANK, "LU", None),
    ("Noordbank", Customer.Kind.BANK, "NL", 30),
    ("Event Security GmbH", Customer.Kind.OTHER, "AT", None),
]


def is_seeded() -> bool:
    return Photo.objects.filter(site__in=DEMO_SITES).exists()


def _source_urls(file_name: str, index: int) -> tuple[str, str, str]:
    site = DEMO_SITES[index % len(DEMO_SITES)]
    token = hashlib.sha256(file_name.encode()).hexdigest()[:12]
    return site, f"https://{site}/media/{token}.jpg", f"https://{site}/posts/{token}"


def package_photos() -> list[Path]:
    """The :data:`PACKAGE_PHOTOS` that are installed here (found without
    importing their packages)."""
    found = []
    for package, inside in PACKAGE_PHOTOS:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            path = Path(location) / inside
            if path.is_file():
                found.append(path)
                break
    return found


def demo_photos(photos_dir: Path | None = None) -> tuple[list[Path], str]:
    """The real photos to seed, and where they come from in words.

    ``photos_dir`` (``seed_demo --photos``) must hold a ``labels.csv`` like the
    sample set's; ``settings.FACE_SAMPLES_DIR`` is used when it exists, and
    without it the images of installed packages."""
    if photos_dir is None and settings.FACE_SAMPLES_DIR and settings.FACE_SAMPLES_DIR.exists():
        photos_dir = settings.FACE_SAMPLES_DIR
    if photos_dir is None:
        # Said, not silent: the demo has far fewer faces to find this way.
        return package_photos(), (
            f"the {len(PACKAGE_PHOTOS)} sample images of installed packages, because "
            f"{settings.FACE_SAMPLES_DIR} is not there (set FACE_SAMPLES_DIR, or run "
            "seed_demo --photos DIR, to seed the labelled sample photos instead)")
    sentence = samples.problem(photos_dir, needed_by="the demo needs")
    if sentence:
        raise ImproperlyConfigured(sentence)
    return ([photos_dir / name for name in samples.labelled_files(photos_dir)],
            f"the labelled photos of {photos_dir}")


def _as_is(items, total, desc):
    return items


def seed_real_photos(files: list[Path], *, model: str | None = None, now=None,
                     progress=_as_is) -> IngestReport:
    report = IngestReport()
    now = now or timezone.now()
    for index, path in enumerate(progress(files, len(files), "photos")):
        site, source_url, page_url = _source_urls(path.name, index)
        ingest_image(
            path.read_bytes(), file_name=path.name, site=site, source_url=source_url,
            page_url=page_url, scraped_at=now - dt.timedelta(days=30 + 17 * index),
            model=model, report=report,
        )
    return report


def seed_synthetic_faces(count: int, *, model: str | None = None, seed: int = 7,
                         progress=_as_is) -> int:
    """Random embeddings, scaled like the model's real ones, on synthetic photos."""
    backend = get_backend(model)
    rng = np.random.default_rng(seed)
    real = np.array(
        [f.embedding for f in Face.objects.filter(model=backend.name, photo__synthetic=False)[:50]],
        dtype=np.float32,
    )
    norm = float(np.linalg.norm(real, axis=1).mean()) if len(real) else 1.0
    now = timezone.now()
    created = 0
    batch = 500
    for _ in progress(range(0, count, batch), -(-count // batch), "synthetic faces (x500)"):
        size = min(batch, count - created)
        with transaction.atomic():
            photos = Photo.objects.bulk_create([
                Photo(
                    source_url=f"https://{SYNTHETIC_SITE}/img/{created + i}",
                    site=SYNTHETIC_SITE, scraped_at=now - dt.timedelta(hours=created + i),
                    image="", file_name=f"synthetic-{created + i}.jpg", width=640, height=480,
                    sha256=hashlib.sha256(f"synthetic-{created + i}".encode()).hexdigest(),
                    synthetic=True,
                )
                for i in range(size)
            ])
            PhotoSource.objects.bulk_create([PhotoSource.of(photo) for photo in photos])
            vectors = rng.normal(size=(size, backend.dimension)).astype(np.float32)
            vectors *= norm / np.linalg.norm(vectors, axis=1, keepdims=True)
            Face.objects.bulk_create([
                Face(photo=photo, box_left=200, box_top=120, box_width=160, box_height=160,
                     landmarks=[[240, 180], [320, 180], [280, 220], [250, 250], [310, 250]],
                     detector_score=1.0, model=backend.name, embedding=vector)
                for photo, vector in zip(photos, vectors, strict=True)
            ])
        created += size
    return created


def seed_customers_and_searches(*, seed: int = 11, searches: int = 60) -> int:
    rng = random.Random(seed)  # demo data, not a secret  # nosec B311
    today = timezone.localdate()
    customers = []
    for name, kind, country, trial_days in CUSTOMERS:
        trial_start = today - dt.timedelta(days=rng.randint(20, 200)) if trial_days else None
        customers.append(Customer.objects.create(
            name=name, kind=kind, country=country,
            account=Customer.Account.TRIAL if trial_days else Customer.Account.PAID,
            trial_start=trial_start,
            trial_end=trial_start + dt.timedelta(days=trial_days) if trial_days else None,
            # The whole name, so that no address ends in a cut word or a hyphen.
            contact_email=f"privacy@{slugify(name)}.example",
        ))
    # In id order: the same seed picks the same faces whatever order the
    # database returns rows in (a Citus coordinator merges shards).
    real_faces = list(Face.objects.filter(photo__synthetic=False).order_by("pk")
                      .values_list("id", flat=True))
    synthetic = list(Face.objects.filter(photo__synthetic=True).order_by("pk")
                     .values_list("id", flat=True)[:2000])
    now = timezone.now()
    for _ in range(searches):
        search = CustomerSearch.objects.create(
            customer=rng.choice(customers),
            searched_at=now - dt.timedelta(days=rng.randint(1, 300), minutes=rng.randint(0, 1440)),
        )
        # About half the searches returned faces of the demo people.
        pool = real_faces if rng.random() < 0.5 and real_faces else synthetic
        returned = rng.sample(pool, k=min(len(pool), rng.randint(1, 4)))
        CustomerSearchResult.objects.bulk_create([
            CustomerSearchResult(search=search, face_id=face_id,
                                 distance=round(rng.uniform(0.2, 0.55), 3), rank=rank)
            for rank, face_id in enumerate(returned, start=1)
        ])
    return searches


def seed_demo(*, synthetic_faces: int = 3000, model: str | None = None,
              photos_dir: Path | None = None, progress=_as_is) -> dict | None:
    """Seed once: returns a summary, or None when the demo data is there.
    ``progress(items, total, description)`` wraps each long loop (a tqdm bar).

    Raises ImproperlyConfigured, with one sentence, for a photo folder that
    is there but unusable (no labels.csv, photos missing)."""
    if is_seeded():
        return None
    files, source = demo_photos(photos_dir)
    backend = get_backend(model)
    ensure_face_index(backend)
    report = seed_real_photos(files, model=backend.name, progress=progress)
    synthetic = seed_synthetic_faces(synthetic_faces, model=backend.name, progress=progress)
    searches = seed_customers_and_searches()
    return {"photos": report.photos, "faces": report.faces, "source": source,
            "synthetic_faces": synthetic, "customers": len(CUSTOMERS), "searches": searches}
