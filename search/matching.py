"""Face search: the candidate faces of an embedding, nearest first.

Two ways to search, on purpose:

- :func:`find_candidates` uses the model's HNSW index: fast, approximate,
  for a citizen's first preview and the operators' search command.
- :func:`find_all_candidates` scans every face of the model exactly: what
  goes into an access package and what gets erased must never depend on an
  index's recall.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from search.backends import get_backend
from search.index import distance_operator, embedding_expression


class Tier(enum.StrEnum):
    MATCH = "match"
    POSSIBLE = "possible"


@dataclass(frozen=True)
class Candidate:
    face_id: int
    photo_id: int
    distance: float
    tier: Tier
    restricted: bool


def vector_literal(embedding: Sequence[float] | np.ndarray) -> str:
    values = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(values)):
        raise ValueError("an embedding must hold finite numbers only")
    return "[" + ",".join(f"{v:.8g}" for v in values.tolist()) + "]"


def tier_of(distance: float, backend) -> Tier | None:
    if distance <= backend.match_threshold:
        return Tier.MATCH
    if distance <= backend.possible_threshold:
        return Tier.POSSIBLE
    return None


def nearest_faces_sql(backend, *, include_restricted: bool) -> str:
    """The index-served query: parameters are (query vector, model, query
    vector, limit, threshold). Written so the planner can only answer it
    with the model's partial HNSW index: same expression, same condition."""
    expression = embedding_expression(backend, "f.embedding")
    operator = distance_operator(backend)
    dimension = int(backend.dimension)
    restricted = "" if include_restricted else "AND NOT f.restricted"
    # Only validated identifiers and numbers are formatted in (search/index.py).
    return (
        "WITH nearest AS MATERIALIZED ("
        f" SELECT f.id, f.photo_id, f.restricted,"
        f" {expression} {operator} %s::vector({dimension}) AS distance"
        " FROM search_face f"
        f" WHERE f.model = %s {restricted}"
        f" ORDER BY {expression} {operator} %s::vector({dimension})"
        " LIMIT %s)"
        " SELECT id, photo_id, restricted, distance FROM nearest"
        " WHERE distance <= %s ORDER BY distance, id"
    )


def _candidates(rows, backend) -> list[Candidate]:
    return [
        Candidate(face_id=face_id, photo_id=photo_id, distance=float(distance),
                  tier=tier_of(float(distance), backend), restricted=restricted)
        for face_id, photo_id, restricted, distance in rows
    ]


def find_candidates(
    embedding, *, model: str | None = None, include_restricted: bool = False, limit: int = 100
) -> list[Candidate]:
    """Approximate search through the model's HNSW index, within the
    ``possible`` threshold, nearest first."""
    backend = get_backend(model)
    query = vector_literal(embedding)
    with transaction.atomic(), connection.cursor() as cursor:
        _use_the_index(cursor, limit)
        cursor.execute(
            nearest_faces_sql(backend, include_restricted=include_restricted),
            [query, backend.name, query, limit, backend.possible_threshold],
        )
        return _candidates(cursor.fetchall(), backend)


def explain_candidates(
    embedding, *, model: str | None = None, include_restricted: bool = False, limit: int = 100
) -> str:
    """The query plan of :func:`find_candidates`, for operators and tests."""
    backend = get_backend(model)
    query = vector_literal(embedding)
    with transaction.atomic(), connection.cursor() as cursor:
        _use_the_index(cursor, limit)
        cursor.execute(
            "EXPLAIN " + nearest_faces_sql(backend, include_restricted=include_restricted),
            [query, backend.name, query, limit, backend.possible_threshold],
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def _use_the_index(cursor, limit: int) -> None:
    # All in one statement (set_config(..., true) is SET LOCAL): each round
    # trip to the server costs as much as a tenth of the search itself.
    cursor.execute(
        # On a small table the planner would rather sort every row: fine for
        # speed, but the answer must come from the same path at every size.
        "SELECT set_config('enable_seqscan', 'off', true),"
        " set_config('enable_bitmapscan', 'off', true),"
        " set_config('enable_sort', 'off', true),"
        # Iterative scans keep reading the graph when filters (restricted
        # faces) remove rows, so the LIMIT is still filled.
        " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
        " set_config('hnsw.ef_search', %s, true)",
        [str(max(limit, 64))],
    )


def find_all_candidates(
    embedding, *, model: str | None = None, threshold: float | None = None
) -> list[Candidate]:
    """Exhaustive search: an exact scan over every face of the model,
    restricted ones included, within ``threshold`` (default: the model's
    ``possible`` threshold)."""
    backend = get_backend(model)
    limit = backend.possible_threshold if threshold is None else threshold
    expression = embedding_expression(backend, "f.embedding")
    operator = distance_operator(backend)
    dimension = int(backend.dimension)
    with transaction.atomic(), connection.cursor() as cursor:
        # Completeness must not depend on an approximate index.
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            "SELECT id, photo_id, restricted, distance FROM ("
            f" SELECT f.id, f.photo_id, f.restricted,"
            f" {expression} {operator} %s::vector({dimension}) AS distance"
            " FROM search_face f WHERE f.model = %s) AS scored"
            " WHERE distance <= %s ORDER BY distance, id",
            [vector_literal(embedding), backend.name, limit],
        )
        return _candidates(cursor.fetchall(), backend)


def is_suppressed(embedding, *, model: str | None = None) -> bool:
    """Whether a face matches the suppression list. An exact scan with the
    looser ``possible`` threshold: the list is small, and a miss would mean
    collecting someone who asked not to be collected again."""
    backend = get_backend(model)
    expression = embedding_expression(backend)
    operator = distance_operator(backend)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM search_suppression WHERE model = %s"
            f" AND {expression} {operator} %s::vector({int(backend.dimension)}) <= %s)",
            [backend.name, vector_literal(embedding), backend.possible_threshold],
        )
        return bool(cursor.fetchone()[0])
