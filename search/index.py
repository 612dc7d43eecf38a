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


def distance_operator(backend) -> str:
    return OPERATORS[_checked(backend)[2]][0]


def create_index_sql(backend, table: str = "search_face") -> str:
    name, _, metric = _checked(backend)
    opclass = OPERATORS[metric][1]
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(backend)} ON {table} USING hnsw "
        f"({embedding_expression(backend)} {opclass}) WITH (m = 16, ef_construction = 64) "
        f"WHERE model = '{name}'"
    )


def ensure_face_index(backend) -> None:
    """Create the model's HNSW index if it does not exist yet (idempotent)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [index_name(backend)])
        if cursor.fetchone() is None:
            cursor.execute(create_index_sql(backend))
