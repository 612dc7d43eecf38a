"""One model's face embeddings in a hash-partitioned table, one HNSW index
per partition, and the nearest faces merged across partitions.

On one machine this is the shape of a Citus distributed table: a partition
is a shard (distributed by the face id), each shard has its own HNSW index,
and a search asks every shard for its own top ``k`` and merges them, as the
Citus coordinator does. Running the portal on it here is the rehearsal for
running it there (see ``docs/scaling.md``).

It also holds the ``halfvec`` storage option: ``storage="halfvec"`` keeps the
embeddings as 16-bit floats, half the memory of ``vector``, and
``partitions=1`` makes a plain table.

The table is an index derived from ``search_face``, never a second source
of facts: each row references its face ``ON DELETE CASCADE`` (an erasure
that deletes a face deletes it here in the same transaction), the photo and
the ``restricted`` flag are read from ``search_face`` at query time (never
stale), and :meth:`ShardedFaceIndex.refresh` adds the faces ingested since
the last call. Like :func:`search.matching.find_candidates` it is
approximate: what goes into an access package or gets erased still comes
from :func:`search.matching.find_all_candidates`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection, transaction

from search.backends import get_backend
from search.index import distance_operator, embedding_expression
from search.matching import Candidate, tier_of, vector_literal

# SQL text here holds only table names built from the validated model name
# and numbers (S608 is silenced line by line); values are parameters.

#: Operator classes per storage type and metric.
OPCLASSES = {
    "vector": {"l2": "vector_l2_ops", "cosine": "vector_cosine_ops"},
    "halfvec": {"l2": "halfvec_l2_ops", "cosine": "halfvec_cosine_ops"},
}
MAX_PARTITIONS = 256
# halfvec holds up to 4,000 dimensions in an HNSW index, vector up to 2,000.
MAX_INDEXED_DIMENSIONS = {"vector": 2000, "halfvec": 4000}


@dataclass(frozen=True)
class ShardedFaceIndex:
    """``partitions`` hash partitions of the faces of ``model``, stored as
    ``storage`` (``"vector"`` or ``"halfvec"``)."""

    model: str | None = None
    partitions: int = 4
    storage: str = "vector"
    m: int = 16
    ef_construction: int = 64

    def __post_init__(self) -> None:
        if self.storage not in OPCLASSES:
            raise ValueError(f"storage must be one of {sorted(OPCLASSES)}, not {self.storage!r}")
        if not 1 <= int(self.partitions) <= MAX_PARTITIONS:
            raise ValueError(f"partitions must be between 1 and {MAX_PARTITIONS}")
        if not (2 <= int(self.m) <= 100 and 4 <= int(self.ef_construction) <= 1000):
            raise ValueError("m must be 2-100 and ef_construction 4-1000")
        embedding_expression(self.backend)  # validates the model's name and dimension
        if self.dimension > MAX_INDEXED_DIMENSIONS[self.storage]:
            raise ValueError(f"{self.storage} indexes hold at most "
                             f"{MAX_INDEXED_DIMENSIONS[self.storage]} dimensions")

    # -- names ----------------------------------------------------------------

    @property
    def backend(self):
        return get_backend(self.model)

    @property
    def dimension(self) -> int:
        return int(self.backend.dimension)

    @property
    def table(self) -> str:
        """``search_face_<model>_<storage>_p<partitions>``, with ``_m<m>`` and
        ``_ef<ef_construction>`` when the graph settings are not the defaults."""
        name = f"search_face_{self.backend.name}_{self.storage}_p{int(self.partitions)}"
        if int(self.m) != 16:
            name += f"_m{int(self.m)}"
        if int(self.ef_construction) != 64:
            name += f"_ef{int(self.ef_construction)}"
        return name

    @property
    def partitioned(self) -> bool:
        return int(self.partitions) > 1

    def partition_tables(self) -> list[str]:
        if not self.partitioned:
            return [self.table]
        return [f"{self.table}_{i}" for i in range(int(self.partitions))]

    def _type(self) -> str:
        return f"{self.storage}({self.dimension})"

    # -- lifecycle ------------------------------------------------------------

    def create(self) -> None:
        """Create the table and its partitions (idempotent)."""
        by_hash = " PARTITION BY HASH (face_id)" if self.partitioned else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " face_id bigint NOT NULL REFERENCES search_face (id) ON DELETE CASCADE,"
                f" embedding {self._type()} NOT NULL,"
                f" PRIMARY KEY (face_id)){by_hash}"
            )
            if self.partitioned:
                for remainder, name in enumerate(self.partition_tables()):
                    cursor.execute(
                        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {self.table}"
                        f" FOR VALUES WITH (MODULUS {int(self.partitions)},"
                        f" REMAINDER {remainder})"
                    )

    def refresh(self) -> int:
        """Copy in the model's faces that are not here yet; returns how many."""
        source = embedding_expression(self.backend, "f.embedding")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (face_id, embedding)"  # noqa: S608  # nosec B608
                f" SELECT f.id, {source}::{self._type()} FROM search_face f"
                " WHERE f.model = %s ON CONFLICT (face_id) DO NOTHING",
                [self.backend.name],
            )
            return cursor.rowcount

    def build_indexes(self, *, maintenance_work_mem: str | None = None,
                      parallel_workers: int | None = None) -> dict[str, float]:
        """Build each partition's HNSW index (idempotent), as each Citus
        worker builds its shards' indexes. Returns seconds per partition."""
        opclass = OPCLASSES[self.storage][self.backend.metric]
        seconds = {}
        with connection.cursor() as cursor:
            if maintenance_work_mem:
                cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)",
                               [maintenance_work_mem])
            if parallel_workers is not None:
                cursor.execute("SELECT set_config('max_parallel_maintenance_workers', %s, false)",
                               [str(int(parallel_workers))])
            try:
                for name in self.partition_tables():
                    start = time.perf_counter()
                    cursor.execute(
                        f"CREATE INDEX IF NOT EXISTS {name}_hnsw ON {name} USING hnsw"
                        f" (embedding {opclass}) WITH (m = {int(self.m)},"
                        f" ef_construction = {int(self.ef_construction)})"
                    )
                    seconds[name] = time.perf_counter() - start
            finally:
                cursor.execute("RESET maintenance_work_mem")
                cursor.execute("RESET max_parallel_maintenance_workers")
        return seconds

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    def exists(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [self.table])
            return bool(cursor.fetchone()[0])

    def sizes(self) -> dict[str, int]:
        """Bytes on disk: ``table`` (heap and TOAST) and ``indexes`` (the HNSW
        indexes and primary keys), summed over the partitions, and ``rows``."""
        with connection.cursor() as cursor:
            table = indexes = hnsw = rows = 0
            for name in self.partition_tables():
                cursor.execute(
                    "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass),"
                    " coalesce(pg_relation_size(to_regclass(%s)), 0)",
                    [name, name, f"{name}_hnsw"],
                )
                part_table, part_indexes, part_hnsw = cursor.fetchone()
                table, indexes, hnsw = table + part_table, indexes + part_indexes, hnsw + part_hnsw
                cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608  # nosec B608
                rows += cursor.fetchone()[0]
        return {"table": table, "indexes": indexes, "hnsw": hnsw, "rows": rows}

    # -- search ---------------------------------------------------------------

    def nearest_sql(self, *, include_restricted: bool, with_threshold: bool) -> str:
        """Each partition's top ``k`` by its own index, merged: parameters
        ``q`` (the query vector), ``k`` and, with a threshold, ``threshold``."""
        operator = distance_operator(self.backend)
        query = f"%(q)s::{self._type()}"
        shards = " UNION ALL ".join(
            f"(SELECT face_id, embedding {operator} {query} AS distance FROM {name}"  # noqa: S608  # nosec B608
            f" ORDER BY embedding {operator} {query} LIMIT %(k)s)"
            for name in self.partition_tables()
        )
        conditions = []
        if not include_restricted:
            conditions.append("NOT f.restricted")
        if with_threshold:
            conditions.append("s.distance <= %(threshold)s")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (
            f"SELECT s.face_id, f.photo_id, f.restricted, s.distance FROM ({shards}) AS s"  # noqa: S608  # nosec B608
            f" JOIN search_face f ON f.id = s.face_id{where}"
            " ORDER BY s.distance, s.face_id LIMIT %(k)s"
        )

    def nearest(self, embedding, *, limit: int = 10, include_restricted: bool = False,
                threshold: float | None = None, ef_search: int | None = None,
                explain: bool = False):
        """Approximate nearest faces, nearest first: every partition's own
        ``limit`` nearest, merged. Restricted faces are dropped after the
        merge (so fewer than ``limit`` may come back when many are
        restricted). ``threshold`` defaults to the model's ``possible``
        threshold; pass ``float("inf")`` for none."""
        backend = self.backend
        if threshold is None:
            threshold = backend.possible_threshold
        with_threshold = threshold != float("inf")
        sql = self.nearest_sql(include_restricted=include_restricted,
                               with_threshold=with_threshold)
        params = {"q": vector_literal(embedding), "k": int(limit), "threshold": threshold}
        with transaction.atomic(), connection.cursor() as cursor:
            # Each shard must answer from its index, as a big one would.
            cursor.execute(
                "SELECT set_config('enable_seqscan', 'off', true),"
                " set_config('hnsw.ef_search', %s, true)",
                [str(int(ef_search or max(limit, 64)))],
            )
            if explain:
                cursor.execute("EXPLAIN " + sql, params)
                return "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [
            Candidate(face_id=face_id, photo_id=photo_id, distance=float(distance),
                      tier=tier_of(float(distance), backend), restricted=restricted)
            for face_id, photo_id, restricted, distance in rows
        ]
