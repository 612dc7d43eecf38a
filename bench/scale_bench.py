"""Scale: halfvec storage, a hash-partitioned face table (one HNSW index
per partition, top-k merged: the shape of a Citus distributed table) and a
denser HNSW graph (m 32), against the project's single table, on the largest
dataset loaded.

For each layout of ``search.partitioning.ShardedFaceIndex`` it measures the
time to fill and index it, its size, p50/p95 latency and recall@10, with
the project's ``find_candidates`` on the single table timed query by query
alongside. It also measures bytes per face for 128-d and 512-d embeddings
stored as ``vector`` and ``halfvec`` (heap and HNSW index), the basis of
the memory figures in ``docs/scaling.md``.

Writes ``bench/results/scale.json``. ``BENCH_SCALE_SIZE``,
``BENCH_SCALE_LAYOUTS`` (e.g. ``halfvec:1,vector:4,vector:1:32``), ``BENCH_QUERIES``
and ``BENCH_KEEP_SHARDS=1`` (keep the tables) change what it does.
"""

from __future__ import annotations

import os
import time

import numpy as np

from bench import common

K = 10
# (storage, partitions, HNSW m): halfvec, hash partitions, and a denser graph.
DEFAULT_LAYOUTS = [("halfvec", 1, 16), ("vector", 4, 16), ("vector", 1, 32)]
EF_SWEEP = (64, 128, 256)
MEMORY_SAMPLE_ROWS = 20_000


def layouts() -> list[tuple[str, int, int]]:
    """``BENCH_SCALE_LAYOUTS`` as ``storage:partitions[:m],...``."""
    value = os.environ.get("BENCH_SCALE_LAYOUTS")
    if not value:
        return DEFAULT_LAYOUTS
    result = []
    for part in value.split(","):
        fields = part.strip().split(":")
        result.append((fields[0], int(fields[1]), int(fields[2]) if len(fields) > 2 else 16))
    return result


def present_rows(size: int) -> np.ndarray:
    """A mask of the dataset's rows still in ``search_face``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM search_face WHERE model = 'dlib' AND id <= %s", [size])
        ids = np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)
    mask = np.zeros(size, dtype=bool)
    mask[ids - 1] = True
    return mask


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(ids) & set(row.tolist())) / K
                          for ids, row in zip(found, truth, strict=True)]))


def measure_layout(storage: str, partitions: int, m: int, queries: np.ndarray,
                   truth: np.ndarray, keep: bool) -> dict:
    from search.matching import find_candidates
    from search.partitioning import ShardedFaceIndex

    index = ShardedFaceIndex(model="dlib", partitions=partitions, storage=storage, m=m)
    common.heading(f"{storage}, {partitions} partition(s), m {m}: {index.table}")
    index.drop()
    index.create()
    start = time.perf_counter()
    rows = index.refresh()
    filled = time.perf_counter() - start
    print(f"filled with {rows:,} faces in {filled:.1f}s", flush=True)
    per_partition = index.build_indexes(maintenance_work_mem="4GB", parallel_workers=2)
    build = sum(per_partition.values())
    sizes = index.sizes()
    print(f"HNSW indexes built in {build:.1f}s; table {sizes['table'] / 2**20:.0f} MiB, "
          f"indexes {sizes['hnsw'] / 2**20:.0f} MiB", flush=True)
    plan = index.nearest(queries[0], limit=K, include_restricted=True, explain=True)

    def sharded(vector):
        return [c.face_id for c in index.nearest(vector, limit=K, include_restricted=True)]

    def single(vector):
        return [c.face_id for c in find_candidates(vector, model="dlib", limit=K,
                                                   include_restricted=True)]

    for vector in queries[:20]:
        sharded(vector)
        single(vector)
    times = {"layout": [], "single": []}
    found = {"layout": [], "single": []}
    for number, vector in enumerate(queries):
        order = ("layout", "single") if number % 2 == 0 else ("single", "layout")
        for name in order:
            function = sharded if name == "layout" else single
            began = time.perf_counter()
            ids = function(vector)
            times[name].append(time.perf_counter() - began)
            found[name].append(ids)
    layout = common.latency_summary(times["layout"])
    baseline = common.latency_summary(times["single"])
    sweep = []
    for ef in EF_SWEEP:
        began = time.perf_counter()
        ids = [[c.face_id for c in index.nearest(vector, limit=K, include_restricted=True,
                                                 ef_search=ef)] for vector in queries]
        sweep.append({"ef_search": ef,
                      "mean_ms": round((time.perf_counter() - began) / len(queries) * 1000, 3),
                      "recall_at_10": round(recall(ids, truth), 4)})
    result = {
        "table": index.table,
        "storage": storage,
        "partitions": partitions,
        "m": m,
        "ef_construction": index.ef_construction,
        "rows": rows,
        "fill_s": round(filled, 2),
        "build_s": round(build, 2),
        "build_s_per_partition": {k: round(v, 2) for k, v in per_partition.items()},
        "table_bytes": sizes["table"],
        "hnsw_bytes": sizes["hnsw"],
        "index_bytes_all": sizes["indexes"],
        **layout,
        "recall_at_10": round(recall(found["layout"], truth), 4),
        "single_table": {**baseline,
                         "recall_at_10": round(recall(found["single"], truth), 4)},
        "p50_over_single": round(layout["p50_ms"] / baseline["p50_ms"], 3),
        "ef_search_sweep": sweep,
        "plan": plan,
    }
    print(f"p50 {layout['p50_ms']:.3f} ms (single table {baseline['p50_ms']:.3f} ms), "
          f"p95 {layout['p95_ms']:.3f} ms, recall@10 {result['recall_at_10']:.4f} "
          f"(single {result['single_table']['recall_at_10']:.4f})", flush=True)
    print("ef_search sweep:", [(r["ef_search"], r["mean_ms"], r["recall_at_10"]) for r in sweep],
          flush=True)
    if not keep:
        index.drop()
    return result


def memory_per_face() -> list[dict]:
    """Heap and HNSW bytes per face for 128-d and 512-d, vector and halfvec,
    measured on a sample of random unit vectors."""
    from django.db import connection

    from bench import synthetic

    common.heading("bytes per face by dimension and type")
    rng = np.random.default_rng(5)
    rows = []
    for dimension, metric in ((128, "l2"), (512, "cosine")):
        data = rng.standard_normal((MEMORY_SAMPLE_ROWS, dimension), dtype=np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        for storage in ("vector", "halfvec"):
            table = f"bench_memory_{storage}_{dimension}"
            opclass = f"{storage}_{metric}_ops"
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
                cursor.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY,"
                               f" embedding {storage}({dimension}) NOT NULL)")
            raw = connection.connection
            with raw.cursor() as cursor:
                synthetic.copy_binary(cursor, table, [
                    ("id", np.arange(1, MEMORY_SAMPLE_ROWS + 1, dtype=">i8")),
                    ("embedding", synthetic.vector_wire(data, storage)),
                ], MEMORY_SAMPLE_ROWS)
            with connection.cursor() as cursor:
                synthetic.tune_index_build(cursor)
                start = time.perf_counter()
                cursor.execute(f"CREATE INDEX {table}_hnsw ON {table} USING hnsw"
                               f" (embedding {opclass}) WITH (m = 16, ef_construction = 64)")
                build = time.perf_counter() - start
                cursor.execute("SELECT pg_table_size(%s::regclass),"
                               " pg_relation_size(%s::regclass)", [table, f"{table}_hnsw"])
                heap, hnsw = cursor.fetchone()
                cursor.execute(f"DROP TABLE {table}")
            row = {
                "dimension": dimension,
                "storage": storage,
                "metric": metric,
                "sample_rows": MEMORY_SAMPLE_ROWS,
                "heap_bytes_per_face": round(heap / MEMORY_SAMPLE_ROWS, 1),
                "hnsw_bytes_per_face": round(hnsw / MEMORY_SAMPLE_ROWS, 1),
                "gib_per_million": round((heap + hnsw) / MEMORY_SAMPLE_ROWS * 1e6 / 2**30, 2),
                "build_s_per_million": round(build / MEMORY_SAMPLE_ROWS * 1e6, 1),
            }
            rows.append(row)
            print(f"{dimension}-d {storage:<8} heap {row['heap_bytes_per_face']:>7} B/face, "
                  f"HNSW {row['hnsw_bytes_per_face']:>7} B/face, "
                  f"{row['gib_per_million']} GiB per million", flush=True)
    return rows


def main() -> None:
    common.setup()
    from bench import synthetic
    from bench.search_bench import BIG_PERSON_FACES, BIG_PERSONS

    size = common.env_int("BENCH_SCALE_SIZE", 1_000_000)
    query_count = common.env_int("BENCH_QUERIES", 200)
    keep = os.environ.get("BENCH_KEEP_SHARDS") == "1"
    big = BIG_PERSON_FACES if size >= 100_000 else 0
    data, loading = synthetic.ensure_loaded(size, big_person_faces=big,
                                            big_persons=BIG_PERSONS if big else 0,
                                            allow_erased=True)
    mask = present_rows(size)
    ids = np.flatnonzero(mask) + 1
    queries, _ = synthetic.make_queries(data, query_count, seed=23)
    rows, _ = synthetic.exact_neighbours(data.embeddings[mask], queries, K)
    truth = ids[rows]
    results = [measure_layout(storage, partitions, m, queries, truth, keep)
               for storage, partitions, m in layouts()]
    memory = memory_per_face()
    common.write_result("scale", {
        "size": int(mask.sum()),
        "queries": query_count,
        "k": K,
        "loading": loading,
        "layouts": results,
        "memory_per_face": memory,
        "notes": [
            "Each layout is a search.partitioning.ShardedFaceIndex filled from search_face; "
            "its latency is measured query by query alongside find_candidates on the "
            "project's single table (both with hnsw.ef_search 64, both through Django).",
            "Partitioned layouts ask every partition for its own top 10 (each partition "
            "scans its own HNSW index with ef_search 64) and merge them, as a Citus "
            "coordinator merges its shards' answers; on this machine the partitions are "
            "scanned one after the other by one backend.",
        ],
    })


if __name__ == "__main__":
    main()
