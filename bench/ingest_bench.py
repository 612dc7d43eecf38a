"""Benchmark 3: ingest throughput in faces per second, against the bare model.

Every photo of the labelled sample set (``FACE_SAMPLES_DIR``) is ingested
through ``search.ingestion.ingest_image`` (hash, duplicate check, decode,
detect and embed, suppression check per face, file stored, photo and faces
inserted into the indexed table) and, on the same bytes, run through the bare
dlib model (decode, detect, embed), alternating which goes first. Each round
ingests under new source URLs, so nothing is a duplicate; the rows are deleted
afterwards. Writes ``bench/results/ingest.json``; ``BENCH_INGEST_ROUNDS`` sets
the number of rounds (default 2).
"""

from __future__ import annotations

import time
import uuid

from bench import common

SITE = "bench-ingest.example"


def main() -> None:
    common.setup()
    from django.db import connection

    from bench.bare_model import BareDlib, sample_images
    from search.backends import get_backend
    from search.erasure import delete_pending_files
    from search.ingestion import IngestReport, IngestSkip, ingest_image
    from search.models import FileToDelete, Photo

    rounds = common.env_int("BENCH_INGEST_ROUNDS", 2)
    files = [(path.name, path.read_bytes()) for path in sample_images()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM search_face")
        indexed = cursor.fetchone()[0]
    common.heading(f"ingest of {len(files)} images x {rounds} rounds "
                   f"into an index of {indexed:,} faces")
    bare = BareDlib()
    get_backend("dlib").load()
    run = uuid.uuid4().hex[:8]
    # Warm-up: models loaded, first connection and file write done.
    bare.faces(files[0][1])
    ingest_image(files[0][1], file_name=files[0][0], site=SITE,
                 source_url=f"https://{SITE}/{run}/warmup/{files[0][0]}", model="dlib")
    bare_seconds = project_seconds = 0.0
    bare_faces = 0
    report = IngestReport()
    skipped = []
    for number in range(rounds):
        for position, (name, data) in enumerate(files):
            steps = ("bare", "project") if (number + position) % 2 == 0 else ("project", "bare")
            for step in steps:
                start = time.perf_counter()
                if step == "bare":
                    found = bare.faces(data)
                    bare_seconds += time.perf_counter() - start
                    bare_faces += len(found)
                else:
                    try:
                        ingest_image(data, file_name=name, site=SITE,
                                     source_url=f"https://{SITE}/{run}/{number}/{name}",
                                     model="dlib", report=report)
                    except IngestSkip as exc:
                        skipped.append({"file": name, "reason": exc.reason})
                    project_seconds += time.perf_counter() - start
    bare_rate = bare_faces / bare_seconds
    project_rate = report.faces / project_seconds
    ratio = project_rate / bare_rate
    print(f"bare model: {bare_faces} faces in {bare_seconds:.2f}s = {bare_rate:.2f} faces/s")
    print(f"ingestion:  {report.faces} faces in {project_seconds:.2f}s = "
          f"{project_rate:.2f} faces/s ({ratio:.1%} of the bare model)")
    # The benchmark's photos go again (rows, then files).
    photos = Photo.objects.filter(site=SITE)
    names = [name for name in photos.values_list("image", flat=True) if name]
    photos.delete()
    FileToDelete.objects.bulk_create([FileToDelete(name=n) for n in names],
                                     ignore_conflicts=True)
    delete_pending_files(limit=len(names) + 1000)
    common.write_result("ingest", {
        "images": len(files),
        "rounds": rounds,
        "index_faces": indexed,
        "bare_model": {"faces": bare_faces, "seconds": round(bare_seconds, 3),
                       "faces_per_s": round(bare_rate, 3)},
        "ingestion": {"faces": report.faces, "photos": report.photos,
                      "seconds": round(project_seconds, 3),
                      "faces_per_s": round(project_rate, 3), "skipped": skipped},
        "ingest_over_bare": round(ratio, 4),
        "target": 0.8,
    })


if __name__ == "__main__":
    main()
