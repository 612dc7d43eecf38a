"""Benchmark 2: a selfie from upload to matches on the server, against the
bare model on the same images.

The server's work, with the project's own functions, in the order a citizen
meets them:

1. upload: ``subjects.person.selfie.read_upload`` and ``submit_selfie`` as the
   upload view calls them (read, decode, detect and embed to check the photo,
   keep the template, store it, change the request's state, queue the search);
2. search: ``subjects.jobs.selfie_search.run_selfie_search`` as the worker runs it
   (the template the check made, ``find_candidates`` over the whole index,
   store the matches, queue the e-mail);
3. crops: ``subjects.core.faces.crop_of_match`` for every match shown (decode
   the scraped photo, at a reduced scale where the face is large, crop, blur
   others, encode).

The model runs are counted (a counting wrapper around the real backend's
``detect``): one per selfie is the design.

The bare model decodes, detects and embeds once. The labelled sample photos
(``FACE_SAMPLES_DIR``) are in the index (ingested once, with their files) so
matches have real photos to crop, among whatever synthetic faces the
benchmark database holds. Writes ``bench/results/selfie.json``;
``BENCH_SELFIE_ROUNDS`` (default 2).
"""

from __future__ import annotations

import inspect
import time
from unittest import mock

from bench import common

SITE = "bench-demo.example"
MIN_FACE = 80


def main() -> None:
    common.setup()
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.utils import timezone

    from bench.bare_model import BareDlib, sample_images, samples_dir
    from search.backends import get_backend
    from search.ingestion import ingest_path
    from search.matching import find_candidates
    from subjects.core import faces, queueing
    from subjects.core.states import State
    from subjects.jobs import selfie_search
    from subjects.models import RightsRequest
    from subjects.person import selfie

    rounds = common.env_int("BENCH_SELFIE_ROUNDS", 2)
    report = ingest_path(samples_dir(), site=SITE, source_url_prefix=f"https://{SITE}/",
                         model="dlib")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM search_face")
        indexed = cursor.fetchone()[0]
    bare = BareDlib()
    get_backend("dlib").load()
    # Selfies: the sample photos showing one face big enough to be accepted.
    selfies = []
    for path in sample_images():
        data = path.read_bytes()
        found = bare.faces(data)
        if len(found) == 1 and min(found[0][0][2:]) >= MIN_FACE:
            selfies.append((path.name, data))
    common.heading(f"{len(selfies)} selfies x {rounds} rounds against an index of "
                   f"{indexed:,} faces (sample photos ingested: {report.photos} new)")

    queued: list[tuple[int, str]] = []
    model_runs = []
    backend = get_backend("dlib")
    real_detect = backend.detect

    def counted_detect(image, *args, **kwargs):
        model_runs.append(1)
        return real_detect(image, *args, **kwargs)

    backend.detect = counted_detect

    def submit(request, upload):
        """The upload view's work: read the file, check it, hand it on (as an
        uploaded photo, not a live camera capture)."""
        parameters = inspect.signature(selfie.submit_selfie).parameters
        if "live" in parameters:
            return selfie.submit_selfie(request, selfie.read_upload(upload), live=False)
        return selfie.submit_selfie(request, upload)

    def run_once(name: str, data: bytes) -> dict:
        request = RightsRequest.objects.create(
            email="bench-selfie@example.org", email_hash=RightsRequest.hash_email("bench"),
            state=State.VERIFIED, verified_at=timezone.now(),
            biometric_consent_at=timezone.now(),
        )
        queued.clear()
        runs_before = len(model_runs)
        timings = {}
        start = time.perf_counter()
        with mock.patch.object(queueing, "send_now",
                               side_effect=lambda name, *args: queued.append(args)):
            submit(request, SimpleUploadedFile(name, data))
        timings["upload"] = time.perf_counter() - start
        (request_id, stored), = queued
        start = time.perf_counter()
        outcome = selfie_search.run_selfie_search(request_id, stored)
        timings["search"] = time.perf_counter() - start
        timings["model_runs"] = len(model_runs) - runs_before
        request.refresh_from_db()
        start = time.perf_counter()
        crops = 0
        for match in request.matches.filter(face__isnull=False).order_by("distance"):
            if faces.crop_of_match(request, match.pk) is not None:
                crops += 1
        timings["crops"] = time.perf_counter() - start
        # The search step's database part alone, for the breakdown.
        start = time.perf_counter()
        find_candidates(request.selfie_embedding, model=request.selfie_model,
                        include_restricted=True)
        timings["find_candidates"] = time.perf_counter() - start
        timings["total"] = timings["upload"] + timings["search"] + timings["crops"]
        assert outcome == "done", outcome
        # An uploaded selfie may be kept for the DPO's identity check: not here.
        request.refresh_from_db()
        kept = getattr(request, "selfie_review_file", "")
        if kept:
            default_storage.delete(kept)
        return {**timings, "crops_made": crops}

    run_once(*selfies[0])  # warm-up: models, connections, the broker's tables
    bare.faces(selfies[0][1])
    rows = []
    for number in range(rounds):
        for position, (name, data) in enumerate(selfies):
            order = ("bare", "pipeline") if (number + position) % 2 == 0 else ("pipeline", "bare")
            row = {"file": name}
            for step in order:
                if step == "bare":
                    start = time.perf_counter()
                    bare.faces(data)
                    row["bare"] = time.perf_counter() - start
                else:
                    row.update(run_once(name, data))
            rows.append(row)

    def total(key: str) -> float:
        return sum(row[key] for row in rows)

    bare_total, pipeline_total = total("bare"), total("total")
    overhead = pipeline_total / bare_total - 1
    parts = {key: round(total(key), 3) for key in ("upload", "search", "crops",
                                                    "find_candidates")}
    runs = sorted({row["model_runs"] for row in rows})
    print(f"bare model: {bare_total:.2f}s for {len(rows)} selfies "
          f"({bare_total / len(rows) * 1000:.0f} ms each)")
    print(f"pipeline:   {pipeline_total:.2f}s ({pipeline_total / len(rows) * 1000:.0f} ms each), "
          f"{overhead:+.1%} over the bare model; parts: {parts}")
    print(f"crops made: {sum(r['crops_made'] for r in rows)}; model runs per selfie: {runs}")
    common.write_result("selfie", {
        "selfies": len(selfies),
        "rounds": rounds,
        "index_faces": indexed,
        "bare_model_s": round(bare_total, 3),
        "pipeline_s": round(pipeline_total, 3),
        "overhead": round(overhead, 4),
        "target": 0.2,
        "parts_s": parts,
        "per_selfie_ms": {
            "bare": round(bare_total / len(rows) * 1000, 1),
            "pipeline": round(pipeline_total / len(rows) * 1000, 1),
            **{key: round(value / len(rows) * 1000, 1) for key, value in parts.items()},
        },
        "crops_made": sum(r["crops_made"] for r in rows),
        "model_runs_per_selfie": runs,
        "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                 for row in rows],
        "notes": [
            "The upload step runs the model to check the photo (one face, big enough) and "
            "keeps its template; the worker searches with it (model runs counted per "
            "selfie in model_runs_per_selfie).",
            "find_candidates is timed again on its own after each search, for the "
            "breakdown; it is not counted in the pipeline's total.",
        ],
    })


if __name__ == "__main__":
    main()
