"""Benchmark 1: nearest-neighbour search at 10 thousand, 100 thousand and
1 million faces.

On the same synthetic vectors and the same selfies, in one run:

- ``find_candidates``: the project's search function (HNSW, through Django);
- raw pgvector SQL: the bare ``ORDER BY embedding <-> q LIMIT 10`` on the
  same partial index, through the same psycopg connection;
- exact brute force with NumPy (the ground truth);
- FAISS HNSW (``IndexHNSWFlat``, the same M and ef as the project's index).

Prints and writes ``bench/results/search.json``: p50/p95 latency, recall@10
against the exact answer, index build time and size, and the ratios.
``BENCH_SIZES`` (e.g. ``10000,100000``) and ``BENCH_QUERIES`` override the
defaults. The largest size stays loaded for the erasure and scale benchmarks.
"""

from __future__ import annotations

import os

# One query at a time, one thread: OpenBLAS's idle worker threads spin, and on
# a busy 2-core machine they turn a 0.1 ms product into a 4-8 ms wait.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import datetime as dt  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench import common  # noqa: E402

K = 10
EF_SEARCH = 64  # what find_candidates sets for a limit of 10: max(limit, 64)
EF_SWEEP = (64, 128, 256, 512)
# The project's graph settings (search/index.py), for FAISS too.
from search.index import HNSW_EF_CONSTRUCTION, HNSW_M  # noqa: E402, F401, I001

BIG_PERSONS = 2
BIG_PERSON_FACES = 1000


def dataset_for(size: int):
    """The dataset of one size: at 100k and above it also plants two people
    with 1,000 faces each (the erasure benchmark's subjects)."""
    from bench import synthetic

    big = BIG_PERSON_FACES if size >= 100_000 else 0
    return synthetic.make_dataset(size, big_person_faces=big, big_persons=BIG_PERSONS if big else 0)


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = [len(set(ids[:K]) & set(truth_row[:K].tolist())) / K
            for ids, truth_row in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def raw_sql(dimension: int) -> str:
    """The bare query on the project's index: ordered by the half-precision
    expression the index holds, the full-precision distance returned."""
    expression = f"(embedding::vector({dimension}))"
    indexed = f"(embedding::halfvec({dimension}))"
    return (f"SELECT id, {expression} <-> %(q)s::vector({dimension}) AS distance"
            f" FROM search_face WHERE model = 'dlib'"
            f" ORDER BY {indexed} <-> %(q)s::halfvec({dimension}) LIMIT {K}")


def literal(vector: np.ndarray) -> str:
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def plan_of(cursor, sql: str, params) -> str:
    cursor.execute("EXPLAIN " + sql, params)
    return "\n".join(row[0] for row in cursor.fetchall())


def measure_postgres(queries: np.ndarray, warmup: int) -> dict:
    """:func:`_measure_postgres` with Django's query log off, as in
    production: the benchmark runs with DEBUG on (the settings want it
    without a real SECRET_KEY), which would wrap every query of
    ``find_candidates`` (not the raw SQL's) in the debug cursor's logging."""
    from django.test.utils import override_settings

    with override_settings(DEBUG=False):
        return _measure_postgres(queries, warmup)


def _measure_postgres(queries: np.ndarray, warmup: int) -> dict:
    """The project's function and raw SQL, interleaved query by query so that
    both see the same background load."""
    from django.db import connection

    from search.matching import explain_candidates, find_candidates

    raw = connection.connection
    dimension = queries.shape[1]
    sql = raw_sql(dimension)
    with raw.cursor() as cursor:
        cursor.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        raw_plan = plan_of(cursor, sql, {"q": literal(queries[0])})

    def project(vector):
        return [c.face_id for c in find_candidates(vector, model="dlib", limit=K,
                                                   include_restricted=True)]

    def bare(vector):
        with raw.cursor() as cursor:
            cursor.execute(sql, {"q": literal(vector)})
            return [row[0] for row in cursor.fetchall()]

    for vector in queries[:warmup]:
        project(vector)
        bare(vector)
    times = {"project": [], "raw": []}
    found = {"project": [], "raw": []}
    for index, vector in enumerate(queries):
        order = ("project", "raw") if index % 2 == 0 else ("raw", "project")
        for name in order:
            function = project if name == "project" else bare
            start = time.perf_counter()
            ids = function(vector)
            times[name].append(time.perf_counter() - start)
            found[name].append(ids)
    # The selfie flow asks for up to 100 candidates (ef_search 100).
    wide, wide_found = [], []
    for vector in queries[: min(100, len(queries))]:
        start = time.perf_counter()
        candidates = find_candidates(vector, model="dlib", include_restricted=True)
        wide.append(time.perf_counter() - start)
        wide_found.append([c.face_id for c in candidates[:K]])
    return {
        "times": times,
        "found": found,
        "wide": wide,
        "wide_found": wide_found,
        "project_plan": explain_candidates(queries[0], model="dlib", limit=K,
                                           include_restricted=True),
        "raw_plan": raw_plan,
    }


def ef_sweep(queries: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Raw SQL recall and latency as hnsw.ef_search grows."""
    from django.db import connection

    raw = connection.connection
    sql = raw_sql(queries.shape[1])
    rows = []
    try:
        for ef in EF_SWEEP:
            with raw.cursor() as cursor:
                cursor.execute(f"SET hnsw.ef_search = {ef}")
            times, found = [], []
            for vector in queries:
                start = time.perf_counter()
                with raw.cursor() as cursor:
                    cursor.execute(sql, {"q": literal(vector)})
                    ids = [row[0] for row in cursor.fetchall()]
                times.append(time.perf_counter() - start)
                found.append(ids)
            rows.append({"ef_search": ef, **common.latency_summary(times),
                         "recall_at_10": round(recall(found, truth), 4)})
    finally:
        with raw.cursor() as cursor:
            cursor.execute("RESET hnsw.ef_search")
    return rows


def measure_numpy(data: np.ndarray, queries: np.ndarray, count: int) -> list[float]:
    """Single-query exact search, as a service holding the vectors in RAM would."""
    norms = np.einsum("ij,ij->i", data, data)
    times = []
    for vector in queries[:count]:
        start = time.perf_counter()
        distances = norms - 2 * (data @ vector)
        nearest = np.argpartition(distances, K)[:K]
        nearest[np.argsort(distances[nearest])]
        times.append(time.perf_counter() - start)
    return times


def measure_faiss(data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    index = faiss.IndexHNSWFlat(data.shape[1], HNSW_M)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    start = time.perf_counter()
    index.add(data)
    build = time.perf_counter() - start
    size = int(faiss.serialize_index(index).nbytes)
    index.hnsw.efSearch = EF_SEARCH
    faiss.omp_set_num_threads(1)  # one query at a time, as a web request
    times, found = [], []
    for vector in queries:
        start = time.perf_counter()
        _, ids = index.search(vector[None, :], K)
        times.append(time.perf_counter() - start)
        found.append([int(i) + 1 for i in ids[0]])
    sweep = []
    for ef in EF_SWEEP:
        index.hnsw.efSearch = ef
        start = time.perf_counter()
        _, ids = index.search(queries, K)
        per_query = (time.perf_counter() - start) / len(queries)
        sweep.append({"ef_search": ef, "mean_ms": round(per_query * 1000, 4),
                      "recall_at_10": round(recall([[int(i) + 1 for i in row] for row in ids],
                                                   truth), 4)})
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return {"build_s": round(build, 2), "index_bytes": size, "times": times,
            "recall_at_10": round(recall(found, truth), 4), "sweep": sweep}


#: Exhaustive scans timed per size: what access and erasure run (the crossover).
EXHAUSTIVE_QUERIES = 5


def measure_exhaustive(queries: np.ndarray) -> dict:
    """``find_all_candidates``: the exact scan over every face of the model."""
    from search.matching import find_all_candidates

    times = []
    for vector in queries:
        start = time.perf_counter()
        find_all_candidates(vector, model="dlib")
        times.append(time.perf_counter() - start)
    return common.latency_summary(times)


def run_size(size: int, query_count: int) -> dict:
    from bench import synthetic
    from search.backends import get_backend

    common.heading(f"{size:,} faces")
    start = time.perf_counter()
    data = dataset_for(size)
    generated = time.perf_counter() - start
    print(f"generated {size:,} embeddings ({data.photos:,} photos) in {generated:.1f}s",
          flush=True)
    loading = synthetic.load(data)
    print(f"loaded by binary COPY in {loading['copy_s']}s ({loading['rows_per_s']:,} faces/s; "
          f"{loading['total_s']}s with emptying the tables and ANALYZE)", flush=True)
    built = synthetic.build_index()
    print(f"HNSW index built in {built['build_s']}s, {built['index_bytes'] / 2**20:.0f} MiB",
          flush=True)
    synthetic.write_marker(data, index_built=True)

    queries, _ = synthetic.make_queries(data, query_count)
    start = time.perf_counter()
    truth_rows, truth_distances = synthetic.exact_neighbours(data.embeddings, queries, K)
    truth = truth_rows + 1  # face ids
    print(f"exact top-{K} of {query_count} queries in {time.perf_counter() - start:.1f}s",
          flush=True)
    threshold = get_backend("dlib").possible_threshold
    beyond = int((truth_distances > threshold).sum())

    postgres = measure_postgres(queries, warmup=min(20, query_count))
    exhaustive = measure_exhaustive(queries[:EXHAUSTIVE_QUERIES])
    print(f"exhaustive scan (find_all_candidates): p50 {exhaustive['p50_ms']:.1f} ms",
          flush=True)
    sweep = ef_sweep(queries, truth)
    numpy_times = measure_numpy(data.embeddings, queries, min(query_count, 50))
    faiss_result = measure_faiss(data.embeddings, queries, truth)

    project = common.latency_summary(postgres["times"]["project"])
    raw = common.latency_summary(postgres["times"]["raw"])
    result = {
        "size": size,
        "photos": data.photos,
        "queries": query_count,
        "k": K,
        "ef_search": EF_SEARCH,
        "exact_neighbours_beyond_threshold": beyond,
        "load": loading,
        "exhaustive_scan": exhaustive,
        "methods": {
            "find_candidates": {
                **project,
                "recall_at_10": round(recall(postgres["found"]["project"], truth), 4),
                "build_s": built["build_s"],
                "index_bytes": built["index_bytes"],
            },
            "raw_pgvector_sql": {
                **raw,
                "recall_at_10": round(recall(postgres["found"]["raw"], truth), 4),
                "build_s": built["build_s"],
                "index_bytes": built["index_bytes"],
            },
            "numpy_exact": {
                **common.latency_summary(numpy_times),
                "recall_at_10": 1.0,
                "build_s": 0.0,
                "index_bytes": int(data.embeddings.nbytes),
            },
            "faiss_hnsw": {
                **common.latency_summary(faiss_result["times"]),
                "recall_at_10": faiss_result["recall_at_10"],
                "build_s": faiss_result["build_s"],
                "index_bytes": faiss_result["index_bytes"],
            },
        },
        "find_candidates_limit_100": {
            **common.latency_summary(postgres["wide"]),
            "recall_at_10": round(recall(postgres["wide_found"],
                                         truth[: len(postgres["wide_found"])]), 4),
        },
        "ef_search_sweep": {"raw_pgvector_sql": sweep, "faiss_hnsw": faiss_result["sweep"]},
        "queries_missing_some_neighbours": {
            name: int(sum(len(set(ids) & set(row.tolist())) < K
                          for ids, row in zip(postgres["found"][name], truth, strict=True)))
            for name in ("project", "raw")
        },
        "queries_missing_all_neighbours": {
            name: int(sum(not (set(ids) & set(row.tolist()))
                          for ids, row in zip(postgres["found"][name], truth, strict=True)))
            for name in ("project", "raw")
        },
        "table_total_bytes": built["table_total_bytes"],
        "project_plan": postgres["project_plan"],
        "raw_plan": postgres["raw_plan"],
    }
    methods = result["methods"]
    result["ratios"] = {
        "find_candidates_over_raw_p50": round(project["p50_ms"] / raw["p50_ms"], 3),
        "find_candidates_over_raw_p95": round(project["p95_ms"] / raw["p95_ms"], 3),
        "raw_over_faiss_p50": round(raw["p50_ms"] / methods["faiss_hnsw"]["p50_ms"], 2),
        "numpy_over_raw_p50": round(methods["numpy_exact"]["p50_ms"] / raw["p50_ms"], 2),
        "pg_build_over_faiss_build": round(built["build_s"] / max(faiss_result["build_s"], 1e-3),
                                           2),
    }
    print(f"{'method':<20}{'p50 ms':>10}{'p95 ms':>10}{'recall@10':>11}{'build s':>10}"
          f"{'index MiB':>11}")
    for name, row in methods.items():
        print(f"{name:<20}{row['p50_ms']:>10.3f}{row['p95_ms']:>10.3f}"
              f"{row['recall_at_10']:>11.4f}{row['build_s']:>10.1f}"
              f"{row['index_bytes'] / 2**20:>11.1f}")
    print("ratios:", result["ratios"], flush=True)
    print("ef_search sweep (raw SQL):", [(r["ef_search"], r["p50_ms"], r["recall_at_10"])
                                         for r in sweep], flush=True)
    print("ef_search sweep (FAISS):", [(r["ef_search"], r["mean_ms"], r["recall_at_10"])
                                       for r in faiss_result["sweep"]], flush=True)
    print("queries missing all neighbours:", result["queries_missing_all_neighbours"],
          flush=True)
    return result


def measure_settings_overhead(repeats: int = 2000) -> dict:
    """What the settings sent with each search cost: ``SELECT 1`` alone, and
    ``SELECT 1`` in the place of the query among the statements
    ``find_candidates`` sends (``BEGIN``, its ``SET LOCAL`` statements,
    ``COMMIT``), both sent the way it sends them (one write,
    ``search.pipelined``), interleaved, on Django's connection, with the
    query log off as in production."""
    from django.test.utils import override_settings

    from search.matching import _settings_statements
    from search.pipelined import execute_together

    # As the benchmark calls find_candidates: limit K, restricted faces in.
    settings, _ = _settings_statements(K, False)
    bare = [("SELECT 1", None)]
    with_settings = [("BEGIN", None), *((s, None) for s in settings), ("SELECT 1", None),
                     ("COMMIT", None)]
    times = {"bare": [], "with_settings": []}
    with override_settings(DEBUG=False):
        for index in range(repeats):
            order = ("bare", "with_settings") if index % 2 == 0 else ("with_settings", "bare")
            for name in order:
                statements = bare if name == "bare" else with_settings
                start = time.perf_counter()
                execute_together(statements, rows_of=len(statements) - (name != "bare") - 1)
                times[name].append(time.perf_counter() - start)
    bare_p50 = common.latency_summary(times["bare"])["p50_ms"]
    settings_p50 = common.latency_summary(times["with_settings"])["p50_ms"]
    return {"statements": len(settings), "sent": "BEGIN, the settings, SELECT 1, COMMIT in one "
            "write (search.pipelined), against SELECT 1 alone sent the same way",
            "select_1_p50_ms": bare_p50, "with_settings_p50_ms": settings_p50,
            "overhead_ms": round(settings_p50 - bare_p50, 4)}


def main() -> None:
    common.setup()
    overhead = measure_settings_overhead()
    print(f"BEGIN, {overhead['statements']} SET LOCAL statements and COMMIT cost "
          f"{overhead['overhead_ms']:.3f} ms (SELECT 1: {overhead['select_1_p50_ms']:.3f} ms)",
          flush=True)
    sizes = common.env_sizes("BENCH_SIZES", [10_000, 100_000, 1_000_000])
    query_count = common.env_int("BENCH_QUERIES", 200)
    results = []
    started = time.perf_counter()
    for size in sorted(sizes):
        results.append(run_size(size, query_count))
    if os.environ.get("BENCH_SEARCH_MERGE") == "1":
        # A size run on its own (the 1M one, say) joins the sizes of an
        # earlier run; each size keeps the load average it was measured at.
        earlier = common.read_result("search") or {}
        ran = {row["size"] for row in results}
        for row in earlier.get("sizes", []):
            if row["size"] not in ran:
                row.setdefault("measured_at", earlier.get("measured_at"))
                results.append(row)
        results.sort(key=lambda row: row["size"])
    for row in results:
        row.setdefault("measured_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        row.setdefault("load_average", common.machine().get("load_average"))
    common.write_result("search", {
        "sizes": results,
        "settings_overhead": overhead,
        "seconds": round(time.perf_counter() - started, 1),
        "notes": [
            "find_candidates is called as the selfie flow calls it (include_restricted=True) "
            "but with limit=10, so hnsw.ef_search is 64 for every method.",
            "Raw SQL runs on the same partial expression index through the same psycopg "
            "connection, with hnsw.ef_search set once per session.",
            "Both are timed with Django's DEBUG query log off (as in production).",
            "FAISS and NumPy answer one query at a time on one thread; FAISS builds with "
            "every core, PostgreSQL with two parallel workers and the leader.",
        ],
    })


if __name__ == "__main__":
    main()
