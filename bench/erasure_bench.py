"""Benchmark 4: erasing a person with 1,000 faces among 1 million.

Two people of the synthetic dataset (``bench.synthetic``) have 1,000
photos each; some are group photos (stored as real JPEG files, since their
other faces stay and the person's face is redacted out of the image), and
customers' searches returned some of their faces. Both are erased:

- person A the way the brief of this benchmark puts it: the exhaustive scan
  (``find_all_candidates``) that access and erasure rely on, then
  ``search.erasure.erase_faces_of_photo`` photo by photo, then a second
  exhaustive scan that must find nothing;
- person B through the real erasure job (``subjects.jobs.erasure.run_erasure_job``:
  plan, one recorded step per photo, suppression, verification with the
  face model over every redacted photo, Art. 19 notices), timed step by step.

Writes ``bench/results/erasure.json``. ``BENCH_ERASURE_SIZE`` overrides the
database size (the dataset of ``bench.search_bench`` is reused when it is
loaded and untouched).
"""

from __future__ import annotations

import io
import shutil
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench import common

BIG_PERSON_FACES = 1000
CUSTOMERS = 3
SEARCHES_PER_CUSTOMER = 20
FACES_PER_SEARCH = 10


def group_photo_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A smooth 640x480 JPEG standing in for a scraped group photo."""
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * 255 // width), (y * 255 // height),
                      ((x + y) * 255 // (width + height))], axis=2).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def prepare_person(data, identity: int, customers) -> dict:
    """Store image files for the person's group photos and let customers'
    searches return some of their faces. Not timed."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db import connection
    from django.utils import timezone

    from search.models import CustomerSearch, CustomerSearchResult

    face_ids = data.face_ids_of(identity)
    photos = data.photo[face_ids - 1]
    faces_per_photo = np.bincount(data.photo)
    group = sorted({int(p) for p in photos if faces_per_photo[p] > 1})
    jpeg = group_photo_jpeg()
    with connection.cursor() as cursor:
        for photo_id in group:
            name = default_storage.save(f"photos/bench/{photo_id}.jpg", ContentFile(jpeg))
            cursor.execute("UPDATE search_photo SET image = %s, synthetic = false WHERE id = %s",
                           [name, photo_id])
    rng = np.random.default_rng(identity)
    results = 0
    now = timezone.now()
    for customer in customers:
        for _ in range(SEARCHES_PER_CUSTOMER):
            search = CustomerSearch.objects.create(customer=customer, searched_at=now)
            chosen = rng.choice(face_ids, size=FACES_PER_SEARCH, replace=False)
            CustomerSearchResult.objects.bulk_create([
                CustomerSearchResult(search=search, face_id=int(face), distance=0.3, rank=rank)
                for rank, face in enumerate(chosen, start=1)
            ])
            results += len(chosen)
    return {"faces": len(face_ids), "photos": len(set(photos.tolist())),
            "group_photos": len(group), "search_results": results}


def selfie_of(data, identity: int) -> np.ndarray:
    from bench import synthetic

    queries, _ = synthetic.make_queries(data, 1, seed=1000 + identity,
                                        identities=np.array([identity]))
    return queries[0]


def erase_directly(data, identity: int) -> dict:
    """Scan, erase photo by photo, scan again: the search side of an erasure."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from search.erasure import erase_faces_of_photo
    from search.matching import Tier, find_all_candidates

    selfie = selfie_of(data, identity)
    planted = set(data.face_ids_of(identity).tolist())
    start = time.perf_counter()
    candidates = find_all_candidates(selfie, model="dlib")
    scan = time.perf_counter() - start
    mine = [c for c in candidates if c.tier == Tier.MATCH]
    photos: dict[int, list[int]] = defaultdict(list)
    for candidate in mine:
        photos[candidate.photo_id].append(candidate.face_id)
    outcome = {"faces": 0, "photos_deleted": 0, "photos_redacted": 0}
    per_photo = []
    by_kind: dict[str, list[float]] = {"deleted": [], "redacted": []}
    queries: dict[str, list[int]] = {"deleted": [], "redacted": []}
    start_erase = time.perf_counter()
    for photo_id in sorted(photos):
        connection.queries_log.clear()  # the log keeps 9,000 queries at most
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            done = erase_faces_of_photo(photo_id, photos[photo_id])
            seconds = time.perf_counter() - began
        per_photo.append(seconds)
        kind = "redacted" if done["redacted"] else "deleted"
        by_kind[kind].append(seconds)
        queries[kind].append(len(captured.captured_queries))
        outcome["faces"] += done["faces"]
        outcome["photos_deleted"] += int(done["photo_deleted"])
        outcome["photos_redacted"] += int(done["redacted"])
    erase = time.perf_counter() - start_erase
    start_verify = time.perf_counter()
    left = [c for c in find_all_candidates(selfie, model="dlib") if c.tier == Tier.MATCH]
    verify = time.perf_counter() - start_verify
    total = scan + erase + verify
    return {
        "path": "find_all_candidates + erase_faces_of_photo per photo + final scan",
        "candidates_in_match_tier": len(mine),
        "of_them_planted": len(planted & {c.face_id for c in mine}),
        "planted_faces": len(planted),
        **outcome,
        "left_after": len(left),
        "scan_s": round(scan, 3),
        "erase_s": round(erase, 3),
        "per_photo": common.latency_summary(per_photo),
        "per_deleted_photo": {**common.latency_summary(by_kind["deleted"]),
                              "queries": int(np.median(queries["deleted"] or [0]))},
        "per_redacted_photo": {**common.latency_summary(by_kind["redacted"]),
                               "queries": int(np.median(queries["redacted"] or [0]))},
        "final_scan_s": round(verify, 3),
        "total_s": round(total, 3),
    }


def erase_by_job(data, identity: int) -> dict:
    """The real erasure job, each step timed."""
    from django.utils import timezone

    import subjects.jobs.erasure as erasure
    from subjects.core.states import State
    from subjects.models import RequestJob, RightsRequest

    selfie = selfie_of(data, identity)
    request = RightsRequest.objects.create(
        email="bench-erasure@example.org", email_hash=RightsRequest.hash_email("bench"),
        state=State.IN_PROGRESS, erasure=True, keep_template=True,
        selfie_model="dlib", selfie_embedding=selfie, received_at=timezone.now(),
        verified_at=timezone.now(), biometric_consent_at=timezone.now(),
    )
    job = RequestJob.objects.create(request=request, kind=RequestJob.Kind.ERASURE, order=1)
    steps: dict[str, float] = defaultdict(float)
    original = erasure.run_step

    def timed_step(job, name, work):
        began = time.perf_counter()
        original(job, name, work)
        steps[name.split(":")[0]] += time.perf_counter() - began

    erasure.run_step = timed_step
    try:
        start = time.perf_counter()
        erasure.run_erasure_job(job)
        total = time.perf_counter() - start
    finally:
        erasure.run_step = original
    job.refresh_from_db()
    result = job.result
    return {
        "path": "subjects.jobs.erasure.run_erasure_job (plan, photo steps, suppress, verify, "
                "notices)",
        "faces": len(job.plan.get("faces", [])),
        "photos_deleted": result.get("photos_deleted"),
        "photos_redacted": result.get("photos_redacted"),
        "recipients_notified": result.get("recipients_notified"),
        "steps_s": {name: round(seconds, 3) for name, seconds in steps.items()},
        "total_s": round(total, 3),
    }


def main() -> None:
    common.setup()
    from bench import synthetic
    from search.models import Customer, CustomerSearch
    from subjects.models import RecipientNotice, RightsRequest

    size = common.env_int("BENCH_ERASURE_SIZE", 1_000_000)
    common.heading(f"erasure of {BIG_PERSON_FACES:,} faces among {size:,}")
    # Deleting rows does not touch an HNSW index, so a fresh load skips it.
    data, loading = synthetic.ensure_loaded(size, big_person_faces=BIG_PERSON_FACES,
                                            big_persons=2, index=False)
    # Leftovers of an earlier run.
    from django.conf import settings

    shutil.rmtree(Path(settings.MEDIA_ROOT) / "photos" / "bench", ignore_errors=True)
    CustomerSearch.objects.filter(customer__name__startswith="Bench customer").delete()
    # The notices of an earlier run protect their customers.
    RecipientNotice.objects.filter(customer__name__startswith="Bench customer").delete()
    Customer.objects.filter(name__startswith="Bench customer").delete()
    RightsRequest.objects.filter(email="bench-erasure@example.org").delete()
    customers = [
        Customer.objects.create(name=f"Bench customer {i}", kind=kind, country="NL",
                                account="paid", contact_email=f"dpo{i}@customer.example")
        for i, kind in enumerate(["law_enforcement", "retail", "bank"][:CUSTOMERS])
    ]
    person_a, person_b = data.big_persons[:2]
    prepared = {"A": prepare_person(data, person_a, customers),
                "B": prepare_person(data, person_b, customers)}
    print("prepared:", prepared, flush=True)
    direct = erase_directly(data, person_a)
    print(f"direct: {direct['faces']} faces ({direct['photos_deleted']} photos deleted, "
          f"{direct['photos_redacted']} redacted) in {direct['total_s']}s "
          f"(scan {direct['scan_s']}s, erase {direct['erase_s']}s, "
          f"final scan {direct['final_scan_s']}s); left: {direct['left_after']}", flush=True)
    job = erase_by_job(data, person_b)
    print(f"per deleted photo: {direct['per_deleted_photo']}; per redacted photo: "
          f"{direct['per_redacted_photo']}", flush=True)
    print(f"job: {job['faces']} faces in {job['total_s']}s; steps: {job['steps_s']}", flush=True)
    common.write_result("erasure", {
        "size": size,
        "target_s": 10.0,
        "prepared": prepared,
        "loading": loading,
        "direct": direct,
        "job": job,
        "notes": [
            "Group photos are 640x480 JPEG files; the person's face is redacted out of them "
            "and the file rewritten. Photos holding only the person are deleted.",
            "The job's verify step runs the dlib detector around the redacted boxes of each "
            "redacted photo (half a box on every side), at the whole photo's upsampling.",
        ],
    })


if __name__ == "__main__":
    main()
