"""The SQL that makes every search compare one model's embeddings only and
use that model's own HNSW index.

All models share the one ``embedding`` column (of type ``vector`` without a
fixed dimension). Each model gets a partial expression index,
``(embedding::vector(DIM)) WHERE model = NAME``; a query uses it only when
it repeats that exact expression and condition, which
:func:`embedding_expression` guarantees.
"""

from __future__ import annotations

import re

from django.db import connection

OPERATORS = {"l2": ("<->", "vector_l2_ops"), "cosine": ("<=>", "vector_cosine_ops")}
#: The HNSW index stores half-precision copies (``halfvec``): half the
#: memory, faster to walk; the distances a search returns are still computed
#: on the full ``vector`` of the rows it found (:func:`index_expression`).
INDEX_OPCLASSES = {"l2": "halfvec_l2_ops", "cosine": "halfvec_cosine_ops"}
#: The graph: m 32 (each node linked to up to 32 others; 64 on the lowest
#: layer) reached recall@10 0.9965 at a million planted-identity faces where
#: m 16 reached 0.892 (docs/performance.md); ef_construction 64 as before,
#: since a larger one lengthens the build (650 s at m 32 for a million faces
#: on 2 cores) for recall the measurement did not need.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _checked(backend) -> tuple[str, int, str]:
    name, dimension, metric = backend.name, int(backend.dimension), backend.metric
    # The model name and dimension go into SQL text (index expressions cannot
    # be parameters), so they must be plain identifiers and numbers.
    if not _SAFE_NAME.match(name) or not 0 < dimension <= 16000 or metric not in OPERATORS:
        raise ValueError(f"unsupported face model {name!r} ({dimension}, {metric})")
    return name, dimension, metric


def index_name(backend) -> str:
    name, dimension, _ = _checked(backend)
    return f"search_face_{name}_{dimension}_hnsw"


def embedding_expression(backend, column: str = "embedding") -> str:
    _, dimension, _ = _checked(backend)
    return f"({column}::vector({dimension}))"


def index_expression(backend, column: str = "embedding") -> str:
    """What the HNSW index holds and a search orders by: the embedding in
    half precision."""
    _, dimension, _ = _checked(backend)
    return f"({column}::halfvec({dimension}))"


def distance_operator(backend) -> str:
    return OPERATORS[_checked(backend)[2]][0]


def create_index_sql(backend, table: str = "search_face") -> str:
    name, dimension, metric = _checked(backend)
    return hnsw_index_sql(index_name(backend), name, dimension, metric, table)


def hnsw_index_sql(index: str, model: str, dimension: int, metric: str,
                   table: str = "search_face") -> str:
    """The DDL of one model's index (also what migration 0006 rebuilds)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", index) or not _SAFE_NAME.match(model):
        raise ValueError(f"unexpected index {index!r} for model {model!r}")
    return (
        f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING hnsw "
        f"((embedding::halfvec({int(dimension)})) {INDEX_OPCLASSES[metric]}) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
        f"WHERE model = '{model}'"
    )


def ensure_face_index(backend) -> None:
    """Create the model's HNSW index if it does not exist yet (idempotent)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [index_name(backend)])
        if cursor.fetchone() is None:
            cursor.execute(create_index_sql(backend))
