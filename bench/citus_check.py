"""``make citus-check CITUS_URL=...``: the shipped paths on a real Citus
cluster, against the same run on one node (issue 38).

It builds nothing and starts no server: ``CITUS_URL`` names the portal's
database on an existing coordinator with its workers added in that database
(docs/scaling.md gives the steps). The one node is ``CITUS_CHECK_SINGLE_URL``
or, without it, the database ``citus_check_single`` on the embedded server.

Both databases belong to the check: it drops the portal's tables in them
first, and refuses a database that holds the portal's tables without the
check's own marker table (``citus_check_marker``), so it never empties a
database it did not make.

On each, in one process per database, with the project's own functions
(no Celery worker):

1. ``migrate``; on the coordinator ``distribute_face_index --shards N``
   (``CITUS_CHECK_SHARDS``, default 4), a second run, and ``--shards``
   another count, which must be refused;
2. ``seed_demo``;
3. ``search_face --json --largest`` on every sample photo
   (``FACE_SAMPLES_DIR``);
4. one person's access and erasure request: a live selfie
   (``obama_2.jpg``), ``run_selfie_search``, ``file_request`` for both
   with every match confirmed, ``approve_request``, ``run_request_jobs``,
   then the figures of what was erased, kept and told;
5. ``find_candidates`` timed at ``CITUS_CHECK_SIZE`` synthetic faces
   (default 200,000; 0 leaves it out) with ``bench.citus_bench.measure``,
   one node first, then the cluster.

Every output of 1-4 must be the same on both (the distribution's own
messages aside). The run, its figures and the commit it ran on go to
``bench/results/citus_check.json`` and ``docs/scaling.md``
(bench/citus_report.py). Exits non-zero, naming each difference, if any.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
MARKER = "citus_check_marker"
SELFIE = "obama_2.jpg"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


# -- in the process of one database -------------------------------------------


def _configure(url: str, media: Path) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["MEDIA_ROOT"] = str(media)
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["CELERY_RESULT_BACKEND"] = "cache+memory://"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def _empty(cursor) -> list[str]:
    """Drop the portal's tables and functions of an earlier check; refuse a
    database the check did not make."""
    cursor.execute(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
        " AND d.objid = c.oid AND d.deptype = 'e')")
    tables = [row[0] for row in cursor.fetchall()]
    if tables and MARKER not in tables:
        raise SystemExit(f"{cursor.connection.info.dbname} holds tables the check did not make "
                         f"({', '.join(sorted(tables)[:3])}, ...): give the check a database of "
                         f"its own.")
    if tables:
        cursor.execute("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables)
                       + " CASCADE")
    cursor.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n"
        " ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass"
        " AND d.objid = p.oid AND d.deptype = 'e')")
    for (function,) in cursor.fetchall():
        cursor.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    cursor.execute(f"CREATE TABLE {MARKER} (made_at timestamptz DEFAULT now())")
    return tables


def _command(*args) -> str:
    from django.core.management import CommandError, call_command

    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=out)
    except CommandError as exc:
        return f"refused: {exc}"
    return out.getvalue().strip()


def _searches(samples: Path) -> dict[str, object]:
    found = {}
    for image in sorted(p for p in samples.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        text = _command("search_face", str(image), "--json", "--largest")
        found[image.name] = json.loads(text) if text.startswith("[") else text
    return found


def _request(samples: Path) -> dict:
    """One person's access and erasure request, start to end, and its figures."""
    from django.db.models import Count

    from search.backends import get_backend
    from search.imaging import load_image
    from search.matching import find_all_candidates
    from search.models import CustomerSearchResult, Face, Photo, PhotoSource
    from subjects.core import tokens
    from subjects.jobs import runner, selfie_search
    from subjects.models import Match, OutboundEmail, RecipientNotice
    from subjects.person import filing, intake, selfie
    from subjects.review import decisions

    request = intake.start_request(email="citus-check@example.org", language="en")
    request = intake.verify_email(tokens.verification_token(request))
    request = selfie.submit_selfie(request, (samples / SELFIE).read_bytes(), live=True)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    request.refresh_from_db()
    matches = {m.pk: "mine" for m in request.matches.filter(tier="match")}
    request = filing.file_request(request, kinds=["access", "erasure"], keep_template="auto",
                                  decisions=matches)
    request = decisions.approve_request(request, actor="citus-check")
    runner.run_request_jobs(request.pk, owner="citus-check")
    request.refresh_from_db()
    embedding = get_backend("dlib").detect(load_image(samples / SELFIE))[0].embedding
    photos = Photo.objects.count()
    return {
        "state": request.state,
        "matches": dict(request.matches.values_list("tier").annotate(n=Count("pk"))
                        .order_by("tier")),
        "confirmed": len(matches),
        "jobs": {job.kind: {"status": job.status, "steps": job.steps_done,
                            "result": _stable(job.result)}
                 for job in request.jobs.order_by("order")},
        "package_bytes_written": bool(request.package.size),
        "left_by_exhaustive_search": len(find_all_candidates(embedding, threshold=0.6)),
        "matches_without_face": Match.objects.filter(request=request, face__isnull=True,
                                                     erased_at__isnull=False).count(),
        "search_results_without_face": CustomerSearchResult.objects.filter(
            face__isnull=True, face_erased_at__isnull=False).count(),
        "recipient_notices": RecipientNotice.objects.count(),
        "emails": dict(OutboundEmail.objects.values_list("kind").annotate(n=Count("pk"))
                       .order_by("kind")),
        "faces_left": Face.objects.count(),
        "photos_left": photos,
        "photos_with_duplicate_key": PhotoSource.objects.filter(
            photo_id__in=Photo.objects.values("pk")).count(),
    }


def _stable(value):
    """A job's result without what differs from run to run anyway (times,
    paths, hashes of files)."""
    if isinstance(value, dict):
        return {key: _stable(item) for key, item in sorted(value.items())
                if not any(word in key for word in ("_at", "time", "path", "sha", "seconds"))}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


def run_one(url: str, label: str, samples: Path, shards: int, size: int, queries: int) -> dict:
    media = BASE_DIR / "var" / "citus-check" / label / "media"
    _configure(url, media)
    from django.db import connection

    from search.distribution import citus_version

    out: dict = {"label": label}
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        out["postgresql"] = cursor.fetchone()[0]
        out["citus"] = citus_version(cursor)
        out["dropped_earlier_tables"] = len(_empty(cursor))
    out["migrate"] = _command("migrate", "--no-input").splitlines()[-1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        out["vector"] = cursor.fetchone()[0]
    if out["citus"]:
        out["distribute"] = [_command("distribute_face_index", "--shards", str(shards)),
                             _command("distribute_face_index", "--shards", str(shards)),
                             _command("distribute_face_index", "--shards", str(shards * 2))]
        out["migrate_after"] = _command("migrate", "--no-input").splitlines()[-1]
    out["seed_demo"] = _command("seed_demo", "--verbosity", "0")
    out["search_face"] = _searches(samples)
    out["request"] = _request(samples)
    if size:
        from bench.citus_bench import measure

        out["find_candidates"] = measure(size, shards, queries)
    return out


# -- the check ------------------------------------------------------------------


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=BASE_DIR, capture_output=True, text=True,
                          check=False).stdout.strip()


def _single_url() -> str:
    url = os.environ.get("CITUS_CHECK_SINGLE_URL")
    if url:
        return url
    sys.path.insert(0, str(BASE_DIR))
    from portal import embedded_db

    server = embedded_db.ensure_running(Path(os.environ.get("PORTAL_DATA_DIR",
                                                            BASE_DIR / "var")))
    embedded_db.ensure_database(server, "citus_check_single")
    return f"postgresql://postgres@/citus_check_single?host={server.socket_dir}"


def differences(single: dict, citus: dict) -> list[str]:
    found = []
    if not citus.get("citus"):
        found.append("CITUS_URL names a database without the citus extension.")
    photos = sorted(set(single["search_face"]) | set(citus["search_face"]))
    for name in photos:
        if single["search_face"].get(name) != citus["search_face"].get(name):
            found.append(f"search_face {name}: one node {single['search_face'].get(name)!r:.200}"
                         f" but Citus {citus['search_face'].get(name)!r:.200}")
    for key in sorted(set(single["request"]) | set(citus["request"])):
        if single["request"].get(key) != citus["request"].get(key):
            found.append(f"request {key}: one node {single['request'].get(key)!r:.300} but "
                         f"Citus {citus['request'].get(key)!r:.300}")
    for key in ("migrate", "seed_demo"):
        if single[key] != citus[key]:
            found.append(f"{key}: one node {single[key]!r} but Citus {citus[key]!r}")
    first, second, other = citus.get("distribute") or ["", "", ""]
    if "The face index is distributed in" not in first:
        found.append(f"distribute_face_index did not distribute: {first!r}")
    if "already distributed" not in second:
        found.append(f"a second distribute_face_index changed something: {second!r}")
    if not other.startswith("refused: The face index is already distributed"):
        found.append(f"another shard count was not refused: {other!r}")
    if single["request"]["state"] != "completed":
        found.append(f"the request ended {single['request']['state']!r}, not completed")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("URL", "LABEL"),
                        help="(internal) run on one database, print its outputs as JSON")
    parser.add_argument("--out")
    args = parser.parse_args()
    samples = Path(os.environ.get("FACE_SAMPLES_DIR", BASE_DIR.parent / "shared" / "faces"))
    shards = int(os.environ.get("CITUS_CHECK_SHARDS", "4"))
    size = int(os.environ.get("CITUS_CHECK_SIZE", "200000"))
    queries = int(os.environ.get("BENCH_QUERIES", "200"))
    if args.one:
        result = run_one(*args.one, samples, shards, size, queries)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
        return 0
    citus_url = os.environ.get("CITUS_URL")
    if not citus_url:
        print("Name the portal's database on a Citus coordinator: make citus-check "
              "CITUS_URL=postgresql://user@host:port/portal (docs/scaling.md).", file=sys.stderr)
        return 2
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".",
                      ":!docs/scaling.md", ":!bench/results"))
    runs = {}
    folder = BASE_DIR / "var" / "citus-check"
    folder.mkdir(parents=True, exist_ok=True)
    for label, url in (("single", _single_url()), ("citus", citus_url)):
        print(f"== {label}: {url.split('@')[-1]}", flush=True)
        out = folder / f"{label}.json"
        out.unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-m", "bench.citus_check", "--one", url,
                               label, "--out", str(out)], cwd=BASE_DIR, check=False)
        if done.returncode:
            print(f"The run on {label} failed (exit {done.returncode}); see above.",
                  file=sys.stderr)
            return 1
        runs[label] = json.loads(out.read_text(encoding="utf-8"))
    found = differences(runs["single"], runs["citus"])
    sys.path.insert(0, str(BASE_DIR))
    from bench import citus_report, common

    common.write_result("citus_check", {
        "commit": commit, "uncommitted_changes": dirty, "passed": not found,
        "differences": found, "samples": len(runs["single"]["search_face"]), "shards": shards,
        "runs": runs})
    citus_report.write_scaling_md()
    for line in found:
        print("DIFFERENT:", line)
    print(("PASSED" if not found else "FAILED") + f" on commit {commit[:12]}"
          + (" (with uncommitted changes)" if dirty else "") + ": "
          f"{len(runs['single']['search_face'])} sample photos, the request, "
          f"{shards} shards.", flush=True)
    return 1 if found else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 - the child's traceback is the report
        traceback.print_exc()
        sys.exit(1)
