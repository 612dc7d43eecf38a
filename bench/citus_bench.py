"""``find_candidates`` on a Citus cluster, against one node.

Run it against any PostgreSQL with pgvector named by ``BENCH_DATABASE_URL``:

- a plain PostgreSQL: the one-node figures;
- a Citus coordinator: the face index is distributed first, in
  ``BENCH_CITUS_SHARDS`` shards (default 4), with ``distribute_face_index``
  unless it is already.

Each run is appended to ``bench/results/citus.json`` (delete it to start
over), so one-node and Citus runs taken one after the other can be compared.

It loads ``BENCH_CITUS_SIZE`` synthetic faces (default 200,000;
``bench/synthetic.py``), builds the HNSW index (on Citus one per shard, by
the workers), and measures ``find_candidates`` with limit 10 and 100 (p50,
p95), its recall@10 against the exact answer, one HNSW search's execution
time as the server running it reports it (on Citus one shard's, on its
worker: ``EXPLAIN ANALYZE``), and how many shards
answered from their HNSW index (``citus.explain_all_tasks``). This script
neither installs nor starts Citus: docs/scaling.md says how the measured
cluster was set up.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import datetime as dt  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench import common  # noqa: E402

K = 10


def is_citus(cursor) -> bool:
    from search.distribution import citus_version

    return citus_version(cursor) is not None


def shard_plans(query: np.ndarray, limit: int) -> dict:
    """What every shard (or the one table) ran: index scans, sequential
    scans and sorts counted over the plan of every task."""
    from django.db import connection, transaction

    from search.matching import explain_candidates

    with transaction.atomic():
        with connection.cursor() as cursor:
            if is_citus(cursor):
                cursor.execute("SET LOCAL citus.explain_all_tasks = on")
        plan = explain_candidates(query, model="dlib", limit=limit, include_restricted=True)
    tasks = re.search(r"Task Count: (\d+)", plan)
    return {
        "tasks": int(tasks.group(1)) if tasks else 1,
        "hnsw_index_scans": len(re.findall(r"Index Scan using search_face_dlib_128_hnsw", plan)),
        "seq_scans": len(re.findall(r"Seq Scan", plan)),
        "sorts": len(re.findall(r"\bSort\b", plan)),
        "plan": plan,
    }


def search_execution_ms(query: np.ndarray, limit: int) -> float:
    """Execution time of one HNSW search as the server that runs it reports
    it: one shard's on Citus (its worker), the whole search on one node."""
    from django.db import connection, transaction

    from search.backends import get_backend
    from search.matching import _use_the_index, nearest_faces_sql, vector_literal

    backend = get_backend("dlib")
    literal = vector_literal(query)
    with transaction.atomic(), connection.cursor() as cursor:
        _use_the_index(cursor, limit)
        cursor.execute("EXPLAIN (ANALYZE, TIMING OFF) "
                       + nearest_faces_sql(backend, include_restricted=True),
                       [literal, backend.name, literal, limit])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # On Citus the first one is a shard's, the last one the coordinator's.
    return float(re.findall(r"Execution Time: ([\d.]+) ms", plan)[0])


def measure(size: int, shards: int, count: int) -> dict:
    """One run on the database Django is connected to (distributed first on
    a Citus coordinator): what :func:`main` appends, and what
    ``make citus-check`` (bench/citus_check.py) times beside one node."""
    from django.core.management import call_command
    from django.db import connection

    from bench import synthetic
    from search.distribution import distributed_tables
    from search.matching import find_candidates

    with connection.cursor() as cursor:
        citus = is_citus(cursor)
        settings = {}
        for name in (["citus.max_adaptive_executor_pool_size", "citus.max_cached_conns_per_worker"]
                     if citus else []) + ["shared_buffers", "maintenance_work_mem"]:
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
        cursor.execute("SELECT extname, extversion FROM pg_extension")
        extensions = dict(cursor.fetchall())
    label = "single"
    if citus:
        call_command("distribute_face_index", "--shards", str(shards))
        with connection.cursor() as cursor:
            shards = distributed_tables(cursor)["search_face"]
        label = str(shards)
    common.heading(f"{size:,} faces, {'Citus, ' + label + ' shards' if citus else 'one node'}")
    data, loading = synthetic.ensure_loaded(size)
    queries, _ = synthetic.make_queries(data, count)
    truth, _ = synthetic.exact_neighbours(data.embeddings, queries, K)
    for vector in queries[:20]:
        find_candidates(vector, model="dlib", limit=K, include_restricted=True)
    load_before = [round(v, 2) for v in os.getloadavg()]
    results = {}
    for limit in (K, 100):
        times, found = [], []
        for vector in queries:
            start = time.perf_counter()
            candidates = find_candidates(vector, model="dlib", limit=limit,
                                         include_restricted=True)
            times.append(time.perf_counter() - start)
            found.append([c.face_id - 1 for c in candidates[:K]])
        recall = float(np.mean([len(set(ids) & set(row.tolist())) / K
                                for ids, row in zip(found, truth, strict=True)]))
        results[f"limit_{limit}"] = {**common.latency_summary(times),
                                     "recall_at_10": round(recall, 4)}
        print(f"limit {limit}: p50 {results[f'limit_{limit}']['p50_ms']:.2f} ms, "
              f"p95 {results[f'limit_{limit}']['p95_ms']:.2f} ms, recall@10 {recall:.4f}",
              flush=True)
    plans = shard_plans(queries[0], K)
    execution = [search_execution_ms(vector, K) for vector in queries[:50]]
    print(f"plan: {plans['hnsw_index_scans']} HNSW index scans over {plans['tasks']} task(s), "
          f"{plans['seq_scans']} sequential scans, {plans['sorts']} sorts", flush=True)
    return {
        "label": label,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "size": size,
        "citus": citus,
        "shards": shards if citus else 1,
        "queries": count,
        "loading": loading,
        "settings": settings,
        "extensions": {name: extensions.get(name) for name in ("citus", "vector")},
        "load_average_before": load_before,
        "find_candidates": results,
        "search_execution_p50_ms": round(common.percentile(execution, 50), 3),
        "plan": {key: value for key, value in plans.items() if key != "plan"},
    }


def main() -> None:
    common.setup()
    run = measure(common.env_int("BENCH_CITUS_SIZE", 200_000),
                  common.env_int("BENCH_CITUS_SHARDS", 4), common.env_int("BENCH_QUERIES", 200))
    # Every run is kept, in order: one-node and Citus runs taken one after
    # the other are the pairs docs/scaling.md compares.
    earlier = (common.read_result("citus") or {}).get("runs", [])
    common.write_result("citus", {"runs": [*earlier, run]})


if __name__ == "__main__":
    main()
