"""Synthetic face embeddings with planted identities, and a fast loader.

The vectors imitate dlib's 128-d descriptors as the portal sees them:
identity centres spread so that two people lie about 1.0 apart (dlib's
"different people" are above 0.6), each identity's photos are noisy copies
0.14-0.25 from its centre (so two photos of one person lie 0.2-0.35 apart,
inside dlib's match threshold), and a share of the rows are people seen
once. Queries are fresh noisy copies of planted identities: the selfies.

Rows go into the project's own tables (``search_photo``, ``search_face``)
by a binary ``COPY`` built with NumPy, the way a bulk import would, and the
project's own HNSW index DDL (``search.index.create_index_sql``) is run
after loading, with more ``maintenance_work_mem`` and parallel workers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np

DIMENSION = 128
# Per-coordinate spread of identity centres: two centres lie about
# sqrt(2 * 128) / 16 = 1.0 apart.
CENTRE_SCALE = 1 / 16
# Per-coordinate noise of one photo of an identity: 0.14-0.25 from its centre.
NOISE_RANGE = (0.0125, 0.022)
# Photos hold one face mostly; a few are group photos.
FACES_PER_PHOTO = {1: 0.9, 2: 0.07, 3: 0.03}
SINGLETON_SHARE = 0.4
CLUSTER_SIZES = (10, 40)

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"


@dataclass
class Dataset:
    embeddings: np.ndarray  # (n, dim) float32; row i is face id i + 1
    identity: np.ndarray  # (n,) int64; -1 for people seen once
    centres: np.ndarray  # (identities, dim) float32
    photo: np.ndarray  # (n,) int64 photo id of each face (1-based)
    queryable: np.ndarray  # identities with at least 10 faces, big persons left out
    big_persons: list[int]  # identities with ``big_person_faces`` faces each
    seed: int
    big_person_faces: int = 0

    @property
    def size(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def photos(self) -> int:
        return int(self.photo.max()) if self.size else 0

    def face_ids_of(self, identity: int) -> np.ndarray:
        return np.flatnonzero(self.identity == identity) + 1


def _noisy(rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    scale = rng.uniform(*NOISE_RANGE, size=(centres.shape[0], 1)).astype(np.float32)
    noise = rng.standard_normal(centres.shape, dtype=np.float32) * scale
    return centres + noise


def make_dataset(n: int, *, seed: int = 7, big_person_faces: int = 0, big_persons: int = 1,
                 dim: int = DIMENSION) -> Dataset:
    """``n`` faces: ``big_person_faces`` of each of ``big_persons`` people
    (identities 0, 1, ...), 40% of the rest people seen once, the others
    identities with 10 to 40 photos each. The same arguments give the same
    dataset."""
    rng = np.random.default_rng(seed)
    big_persons = big_persons if big_person_faces else 0
    sizes: list[int] = [big_person_faces] * big_persons
    remaining = n - sum(sizes)
    clustered = int(remaining * (1 - SINGLETON_SHARE))
    low, high = CLUSTER_SIZES
    while clustered >= low:
        size = min(int(rng.integers(low, high + 1)), clustered)
        sizes.append(size)
        clustered -= size
    sizes.extend([1] * (n - sum(sizes)))
    counts = np.asarray(sizes, dtype=np.int64)
    centres = (rng.standard_normal((len(sizes), dim), dtype=np.float32)
               * np.float32(CENTRE_SCALE))
    identity = np.repeat(np.arange(len(sizes), dtype=np.int64), counts)
    # Faces in random order, so that an identity's photos are spread out.
    identity = identity[rng.permutation(n)]
    embeddings = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 200_000):
        part = identity[start:start + 200_000]
        embeddings[start:start + len(part)] = _noisy(rng, centres[part])
    identity_out = identity.copy()
    identity_out[counts[identity] == 1] = -1
    # Group faces into photos: mostly one face each, some group photos.
    choices = np.array(list(FACES_PER_PHOTO), dtype=np.int64)
    weights = np.array(list(FACES_PER_PHOTO.values()))
    per_photo = rng.choice(choices, size=n, p=weights / weights.sum())
    ends = np.cumsum(per_photo)
    per_photo = per_photo[: int(np.searchsorted(ends, n)) + 1]
    photo = np.repeat(np.arange(1, len(per_photo) + 1, dtype=np.int64), per_photo)[:n]
    queryable = np.flatnonzero(counts >= low)
    queryable = queryable[queryable >= big_persons]
    return Dataset(embeddings=embeddings, identity=identity_out, centres=centres, photo=photo,
                   queryable=queryable, big_persons=list(range(big_persons)), seed=seed,
                   big_person_faces=big_person_faces)


def make_queries(data: Dataset, count: int, *, seed: int = 11,
                 identities: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` selfies: fresh photos of planted identities."""
    rng = np.random.default_rng(seed)
    pool = data.queryable if identities is None else identities
    chosen = rng.choice(pool, size=count, replace=len(pool) < count)
    return _noisy(rng, data.centres[chosen]), chosen


def exact_neighbours(data: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    """Exact k nearest rows (L2) of each query: indices and distances.

    Candidates come from a float32 matrix product in blocks, then the best
    ``4 k`` are re-ranked with float64 distances so rounding cannot swap
    near-ties."""
    norms = np.einsum("ij,ij->i", data, data)
    shortlist = max(4 * k, 50)
    best = np.empty((queries.shape[0], shortlist), dtype=np.int64)
    for q0 in range(0, queries.shape[0], 64):
        block = queries[q0:q0 + 64]
        scores = np.full((block.shape[0], 0), np.inf, dtype=np.float32)
        ids = np.empty((block.shape[0], 0), dtype=np.int64)
        for start in range(0, data.shape[0], 250_000):
            chunk = data[start:start + 250_000]
            d = norms[start:start + 250_000][None, :] - 2 * (block @ chunk.T)
            take = min(shortlist, d.shape[1])
            part = np.argpartition(d, take - 1, axis=1)[:, :take]
            scores = np.concatenate([scores, np.take_along_axis(d, part, axis=1)], axis=1)
            ids = np.concatenate([ids, part + start], axis=1)
            keep = np.argpartition(scores, min(shortlist, scores.shape[1]) - 1,
                                   axis=1)[:, :shortlist]
            scores = np.take_along_axis(scores, keep, axis=1)
            ids = np.take_along_axis(ids, keep, axis=1)
        best[q0:q0 + block.shape[0]] = ids
    exact = np.linalg.norm(data[best].astype(np.float64) - queries[:, None, :].astype(np.float64),
                           axis=2)
    order = np.lexsort((best, exact), axis=1)[:, :k]
    return np.take_along_axis(best, order, axis=1), np.take_along_axis(exact, order, axis=1)


# -- binary COPY ------------------------------------------------------------


def _timestamp(value: dt.datetime) -> np.int64:
    return np.int64((value - PG_EPOCH) // dt.timedelta(microseconds=1))


def _fixed_text(values: list[str]) -> np.ndarray:
    encoded = [v.encode() for v in values]
    width = max(len(v) for v in encoded)
    if any(len(v) != width for v in encoded):
        raise ValueError("binary COPY helper needs text of one width per column")
    return np.asarray(encoded, dtype=f"S{width}")


def binary_copy_rows(columns: list[tuple[str, np.ndarray | None]], n: int) -> np.ndarray:
    """Rows of a binary COPY stream as a NumPy record array.

    Each column is ``(name, values)``: ``values`` holds each row's wire bytes
    in a fixed-size big-endian dtype (``>i8``, ``S12``, a vector record...),
    or is ``None`` for an empty text value."""
    fields = [("count", ">i2")]
    for index, (_, values) in enumerate(columns):
        fields.append((f"len{index}", ">i4"))
        if values is not None:
            fields.append((f"val{index}", values.dtype, values.shape[1:]))
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for index, (_, values) in enumerate(columns):
        if values is None:
            rows[f"len{index}"] = 0
        else:
            rows[f"len{index}"] = values.dtype.itemsize * int(np.prod(values.shape[1:]))
            rows[f"val{index}"] = values
    return rows


def vector_wire(embeddings: np.ndarray, kind: str = "vector") -> np.ndarray:
    """pgvector's binary input format: int16 dimension, int16 zero, values."""
    dim = embeddings.shape[1]
    value_type = ">f4" if kind == "vector" else ">f2"
    wire = np.empty(embeddings.shape[0],
                    dtype=np.dtype([("dim", ">i2"), ("unused", ">i2"), ("v", value_type, (dim,))]))
    wire["dim"] = dim
    wire["unused"] = 0
    wire["v"] = embeddings
    return wire


def copy_binary(cursor, table: str, columns: list[tuple[str, np.ndarray | None]],
                n: int, chunk: int = 50_000) -> None:
    """COPY ``n`` rows into ``table`` in binary, ``chunk`` rows at a time."""
    names = ", ".join(name for name, _ in columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT binary)") as copy:
        copy.write(COPY_SIGNATURE)
        for start in range(0, n, chunk):
            part = [(name, None if values is None else values[start:start + chunk])
                    for name, values in columns]
            copy.write(binary_copy_rows(part, min(chunk, n - start)).tobytes())
        copy.write(COPY_TRAILER)


def load(data: Dataset, *, model: str = "dlib", site: str = "bench.example") -> dict:
    """Replace every photo and face of the benchmark database with ``data``.

    Returns timings. The model's HNSW index is dropped first and must be
    built afterwards (:func:`build_index`)."""
    from django.db import connection

    from search.backends import get_backend
    from search.index import index_name

    backend = get_backend(model)
    n, photos = data.size, data.photos
    now = dt.datetime.now(dt.UTC)
    timings = {}
    start = dt.datetime.now()
    with connection.cursor() as django_cursor:
        django_cursor.execute(f"DROP INDEX IF EXISTS {index_name(backend)}")
        django_cursor.execute("TRUNCATE search_photo, search_face, search_photosource "
                              "RESTART IDENTITY CASCADE")
    timings["empty_s"] = round((dt.datetime.now() - start).total_seconds(), 2)
    copying = dt.datetime.now()
    raw = connection.connection
    with raw.cursor() as cursor:
        # Rows are consistent by construction: skip the per-row FK triggers.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET synchronous_commit = off")
        photo_ids = np.arange(1, photos + 1, dtype=np.int64)
        names = [f"{i:010d}" for i in range(1, photos + 1)]
        photo_columns = [
            ("id", photo_ids.astype(">i8")),
            ("source_url", _fixed_text([f"https://{site}/p/{name}.jpg" for name in names])),
            ("page_url", None),
            ("site", _fixed_text([site] * photos)),
            ("scraped_at", np.full(photos, _timestamp(now - dt.timedelta(days=30)), ">i8")),
            ("image", None),
            ("file_name", _fixed_text([f"{name}.jpg" for name in names])),
            ("width", np.full(photos, 640, ">i4")),
            ("height", np.full(photos, 480, ">i4")),
            ("sha256", _fixed_text([hashlib.sha256(name.encode()).hexdigest()
                                    for name in names])),
            ("synthetic", np.ones(photos, "u1")),
            ("created_at", np.full(photos, _timestamp(now), ">i8")),
        ]
        copy_binary(cursor, "search_photo", photo_columns, photos)
        timings["photos_s"] = round((dt.datetime.now() - copying).total_seconds(), 2)
        landmarks = b"\x01" + b"[[250, 200], [330, 200], [290, 250], [260, 290], [320, 290]]"
        face_columns = [
            ("id", np.arange(1, n + 1, dtype=">i8")),
            ("photo_id", data.photo.astype(">i8")),
            ("box_left", np.full(n, 220, ">i4")),
            ("box_top", np.full(n, 150, ">i4")),
            ("box_width", np.full(n, 140, ">i4")),
            ("box_height", np.full(n, 170, ">i4")),
            ("landmarks", np.full(n, landmarks, f"S{len(landmarks)}")),
            ("detector_score", np.full(n, 1.5, ">f8")),
            ("model", np.full(n, backend.name.encode(), f"S{len(backend.name)}")),
            ("embedding", vector_wire(data.embeddings)),
            ("restricted", np.zeros(n, "u1")),
            ("created_at", np.full(n, _timestamp(now), ">i8")),
        ]
        copy_binary(cursor, "search_face", face_columns, n)
        timings["copy_s"] = round((dt.datetime.now() - copying).total_seconds(), 2)
        cursor.execute("RESET session_replication_role")
        cursor.execute("RESET synchronous_commit")
        for table in ("search_photo", "search_face"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT coalesce(max(id), 1) FROM {table}))")
    with connection.cursor() as django_cursor:
        django_cursor.execute("ANALYZE search_photo")
        django_cursor.execute("ANALYZE search_face")
    timings["total_s"] = round((dt.datetime.now() - start).total_seconds(), 2)
    # Faces per second of the COPY itself (photos and faces, both built here).
    timings["rows_per_s"] = round(n / max(timings["copy_s"], 1e-9))
    return timings


def tune_index_build(cursor, *, memory: str = "4GB", workers: int = 2) -> None:
    """Session settings for building an HNSW index fast: the whole graph in
    memory, and parallel workers."""
    cursor.execute(f"SET maintenance_work_mem = '{memory}'")
    cursor.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")


def build_index(*, model: str = "dlib", workers: int = 2) -> dict:
    """Build the model's HNSW index with the project's own DDL; seconds and bytes."""
    import time

    from django.db import connection

    from search.backends import get_backend
    from search.index import create_index_sql, index_name

    backend = get_backend(model)
    with connection.cursor() as cursor:
        tune_index_build(cursor, workers=workers)
        cursor.execute(f"DROP INDEX IF EXISTS {index_name(backend)}")
        start = time.perf_counter()
        cursor.execute(create_index_sql(backend))
        seconds = time.perf_counter() - start
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [index_name(backend)])
        size = cursor.fetchone()[0]
        cursor.execute("SELECT pg_total_relation_size('search_face')")
        table = cursor.fetchone()[0]
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("RESET max_parallel_maintenance_workers")
    return {"build_s": round(seconds, 2), "index_bytes": size, "table_total_bytes": table}


# -- what the benchmark database holds ------------------------------------------

MARKER_TABLE = "bench_dataset"


def write_marker(data: Dataset, *, index_built: bool) -> None:
    """Record which dataset the benchmark database holds, so the next script
    can reuse it instead of loading it again."""
    import json

    from django.db import connection

    description = {"size": data.size, "seed": data.seed, "big_persons": len(data.big_persons),
                   "big_person_faces": data.big_person_faces, "index_built": index_built}
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} "
                       "(key text PRIMARY KEY, value jsonb NOT NULL)")
        cursor.execute(f"INSERT INTO {MARKER_TABLE} VALUES ('faces', %s) "
                       "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                       [json.dumps(description)])


def read_marker() -> dict | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT value FROM {MARKER_TABLE} WHERE key = 'faces'")
        row = cursor.fetchone()
    if row is None:
        return None
    import json

    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


def ensure_loaded(size: int, *, big_person_faces: int = 0, big_persons: int = 0,
                  index: bool = True, allow_erased: bool = False) -> tuple[Dataset, dict]:
    """The dataset of these arguments, loaded (and indexed) unless the
    database holds it already, untouched (or, with ``allow_erased``, less
    at most the big persons' faces). Returns it and what loading took
    (empty when nothing was loaded)."""
    from django.db import connection

    data = make_dataset(size, big_person_faces=big_person_faces, big_persons=big_persons)
    marker = read_marker() or {}
    wanted = {"size": data.size, "seed": data.seed, "big_persons": len(data.big_persons),
              "big_person_faces": data.big_person_faces}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM search_face")
        faces = cursor.fetchone()[0]
    least = size - (big_persons * big_person_faces if allow_erased else 0)
    intact = (all(marker.get(key) == value for key, value in wanted.items())
              and least <= faces <= size)
    done: dict = {}
    if not intact:
        print(f"loading {size:,} synthetic faces", flush=True)
        done["load"] = load(data)
        marker = {}
    if index and not marker.get("index_built"):
        print("building the HNSW index", flush=True)
        done["index"] = build_index()
    write_marker(data, index_built=index or bool(marker.get("index_built")))
    return data, done
