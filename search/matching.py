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
import functools
import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from psycopg.pq import TransactionStatus

from search.backends import get_backend
from search.index import distance_operator, embedding_expression, index_expression
from search.pipelined import Binary, execute_together


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
    return _tier(distance, backend.thresholds())


def _tier(distance: float, thresholds) -> Tier | None:
    if distance <= thresholds.match:
        return Tier.MATCH
    if distance <= thresholds.possible:
        return Tier.POSSIBLE
    return None


@functools.lru_cache(maxsize=64)
def nearest_faces_sql(backend, *, include_restricted: bool) -> str:
    """The index-served query: parameters ``vector`` (the query vector,
    :func:`vector_parameter`), ``model`` and ``limit``. It orders by the
    half-precision distance the HNSW index holds
    (``search.index.index_expression``) and returns the full-precision
    distance of the rows found: the one vector parameter, typed ``vector``
    where it first appears, is cast to ``halfvec`` for the order.

    One ``ORDER BY distance LIMIT k`` over the face table and nothing around
    it, on purpose. PostgreSQL answers it with the model's partial HNSW index
    (same expression, same condition); Citus sends it whole to every shard,
    each shard answers its own top k from its own index, and the coordinator
    merges them. The threshold is applied to the k rows it returns
    (:func:`_within`): a distance filter in the query would make an iterative
    index scan read on past the k nearest, and a CTE or subquery around it
    would make Citus collect the rows of every shard first."""
    expression = embedding_expression(backend, "f.embedding")
    indexed = index_expression(backend, "f.embedding")
    operator = distance_operator(backend)
    dimension = int(backend.dimension)
    restricted = "" if include_restricted else "AND NOT f.restricted"
    # Only validated identifiers and numbers are formatted in (search/index.py).
    # (bandit's B608 is silenced on each such statement for that reason.)
    return (
        f"SELECT f.id, f.photo_id, f.restricted,"  # nosec B608
        f" {expression} {operator} %(vector)s::vector({dimension}) AS distance"
        " FROM search_face f"
        f" WHERE f.model = %(model)s {restricted}"
        f" ORDER BY {indexed} {operator} %(vector)s::halfvec({dimension})"
        " LIMIT %(limit)s"
    )


def vector_parameter(embedding: Sequence[float] | np.ndarray) -> Binary:
    """The query vector as pgvector's binary form of a ``vector``: its
    dimension and a reserved zero (two 16-bit integers), then each value as a
    big-endian 32-bit float. 516 bytes for 128 values, against some 1,500
    characters written out and parsed back as text (:func:`vector_literal`),
    and the exact float32 values rather than 8 digits of each."""
    values = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if not np.isfinite(values).all():
        raise ValueError("an embedding must hold finite numbers only")
    return Binary(struct.pack(">HH", values.size, 0) + values.astype(">f4").tobytes())


def _candidates(rows, thresholds) -> list[Candidate]:
    return [
        Candidate(face_id=face_id, photo_id=photo_id, distance=float(distance),
                  tier=_tier(float(distance), thresholds), restricted=restricted)
        for face_id, photo_id, restricted, distance in rows
    ]


def _within(rows, threshold: float) -> list:
    """The rows within ``threshold``, nearest first (ties by face id)."""
    return sorted((row for row in rows if row[3] <= threshold), key=lambda row: (row[3], row[0]))


def find_candidates(
    embedding, *, model: str | None = None, include_restricted: bool = False, limit: int = 100
) -> list[Candidate]:
    """Approximate search through the model's HNSW index, within the
    ``possible`` threshold, nearest first: its settings, then its query
    (:func:`_settings_then_query`)."""
    backend = get_backend(model)
    rows = _settings_then_query(
        nearest_faces_sql(backend, include_restricted=include_restricted),
        {"vector": vector_parameter(embedding), "model": backend.name, "limit": int(limit)},
        limit, filtered=not include_restricted)
    # The thresholds once per search, not once per row (each read looks up
    # the calibration file's path in the settings).
    thresholds = backend.thresholds()
    return _candidates(_within(rows, thresholds.possible), thresholds)


def explain_candidates(
    embedding, *, model: str | None = None, include_restricted: bool = False, limit: int = 100,
    options: str = "",
) -> str:
    """The query plan of :func:`find_candidates`, for operators and tests
    (``options`` e.g. ``"(FORMAT JSON)"``), planned under the same settings
    sent the same way."""
    if options and not re.fullmatch(r"\([A-Z_ ,]+\)", options):
        raise ValueError(f"unexpected EXPLAIN options {options!r}")
    backend = get_backend(model)
    rows = _settings_then_query(
        f"EXPLAIN {options} " + nearest_faces_sql(backend, include_restricted=include_restricted),
        {"vector": vector_parameter(embedding), "model": backend.name, "limit": int(limit)},
        limit, filtered=not include_restricted)
    # A JSON plan comes back parsed: given back as the text it was.
    return "\n".join(row[0] if isinstance(row[0], str) else json.dumps(row[0]) for row in rows)


def _settings_then_query(sql: str, params: dict, limit: int, *, filtered: bool) -> list:
    """The search's settings (:func:`_index_settings`), then its query, as
    separate statements in one transaction, all sent in one write
    (:func:`search.pipelined.execute_together`).

    Separate on purpose: Citus keeps the whole string of a ``SET`` it
    propagates to the workers and sends it again after the ``BEGIN`` of
    each worker connection, so a string ``SET LOCAL ...; SELECT ... FROM
    search_face`` would make every worker run the distributed ``SELECT``
    itself ("cannot execute a distributed query from a query on a shard").
    The Citus contract test (tests/search/test_citus_contract.py) keeps it so.

    ``SET LOCAL`` ends with the transaction: outside a transaction of the
    caller the statements hold their own ``BEGIN`` and ``COMMIT``; inside
    one, they end by setting the settings back (``SET LOCAL ... TO
    DEFAULT``). One round trip rather than one per statement:
    bench/citus_settings_cost.py measures both on one node (docs/scaling.md).

    The settings are sent with every search rather than once per
    connection: set for the session they would also hold for every other
    query on the connection (no sequential scans, no sorts), and a
    connection pooler in transaction mode would hand them to other
    clients."""
    settings, reset = _settings_statements(int(limit), filtered)
    # Checked (once a request, as Django's cursor() does) before the driver
    # below is read: a failed check replaces the connection.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    in_caller = connection.in_atomic_block
    driver = connection.connection
    if in_caller and driver.info.transaction_status == TransactionStatus.IDLE:
        # The caller's transaction is not open yet: psycopg opens it with
        # the first statement it runs itself (with the isolation level
        # Django gave it).
        with connection.cursor() as cursor:
            cursor.execute(settings[0])
        settings = settings[1:]
    before = settings if in_caller else ("BEGIN", *settings)
    after = reset if in_caller else ("COMMIT",)
    statements = [*((s, None) for s in before), (sql, params), *((s, None) for s in after)]
    try:
        return execute_together(statements, rows_of=len(before))
    except Exception:
        if (not in_caller and not driver.closed
                and driver.info.transaction_status != TransactionStatus.IDLE):
            driver.rollback()
        raise


@functools.lru_cache(maxsize=64)
def _settings_statements(limit: int, filtered: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The statements :func:`_settings_then_query` sends before the query,
    and those that set them back, built (and checked) once per shape."""
    settings = _index_settings(limit, filtered=filtered)
    return (tuple(set_local_statements(settings)),
            tuple(f"SET LOCAL {name} TO DEFAULT" for name in settings))


def set_local_statements(settings: dict[str, str | int]) -> list[str]:
    """``SET LOCAL`` each setting for the rest of the transaction.

    ``citus.propagate_set_commands = 'local'`` comes first: on a Citus
    coordinator it makes Citus send these ``SET LOCAL`` statements on to the
    workers, where the shards are read (a ``set_config()`` call would only
    change the coordinator). On a plain PostgreSQL it is an unused
    placeholder setting."""
    statements = ["SET LOCAL citus.propagate_set_commands = 'local'"]
    for name, value in settings.items():
        # Names and values are the constants below and integers, never input.
        if not re.fullmatch(r"[a-z_.]+", name) or not re.fullmatch(r"[a-z_0-9]+", str(value)):
            raise ValueError(f"unexpected setting {name} = {value!r}")
        statements.append(f"SET LOCAL {name} = '{value}'")
    return statements


def set_local(cursor, settings: dict[str, str | int]) -> None:
    """:func:`set_local_statements` in one round trip, inside the caller's
    transaction."""
    cursor.execute("; ".join(set_local_statements(settings)))


def _index_settings(limit: int, *, filtered: bool = True) -> dict[str, str | int]:
    settings: dict[str, str | int] = {
        # On a small table (or shard) the planner would rather sort every
        # row: fine for speed, but the answer must come from the same path at
        # every size.
        "enable_seqscan": "off",
        "enable_bitmapscan": "off",
        "enable_sort": "off",
        "hnsw.ef_search": max(int(limit), 64),
        # On a Citus coordinator the merge of the shards' rows is a Sort,
        # which enable_sort = off prices so high that JIT compilation would
        # start, costing more than the search. k rows never need JIT.
        "jit": "off",
    }
    if filtered:
        # Iterative scans keep reading the graph when a filter (restricted
        # faces left out) removes rows, so the LIMIT is still filled. Without
        # a filter they only cost time (9% of a search at 1M faces, measured).
        settings["hnsw.iterative_scan"] = "relaxed_order"
    return settings


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
        # Completeness must not depend on an approximate index (on every
        # shard too: set_local).
        set_local(cursor, {"enable_indexscan": "off", "enable_bitmapscan": "off"})
        cursor.execute(
            "SELECT id, photo_id, restricted, distance FROM ("  # nosec B608
            f" SELECT f.id, f.photo_id, f.restricted,"
            f" {expression} {operator} %s::vector({dimension}) AS distance"
            " FROM search_face f WHERE f.model = %s) AS scored"
            " WHERE distance <= %s ORDER BY distance, id",
            [vector_literal(embedding), backend.name, limit],
        )
        return _candidates(cursor.fetchall(), backend.thresholds())


def is_suppressed(embedding, *, model: str | None = None) -> bool:
    """Whether a face matches the suppression list. An exact scan with the
    looser ``possible`` threshold: the list is small, and a miss would mean
    collecting someone who asked not to be collected again."""
    backend = get_backend(model)
    expression = embedding_expression(backend)
    operator = distance_operator(backend)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM search_suppression WHERE model = %s"  # nosec B608
            f" AND {expression} {operator} %s::vector({int(backend.dimension)}) <= %s)",
            [backend.name, vector_literal(embedding), backend.possible_threshold],
        )
        return bool(cursor.fetchone()[0])


def _use_the_index(cursor, limit: int) -> None:
    """The search's settings inside the caller's transaction (the Citus
    benchmark times them apart from the query)."""
    set_local(cursor, _index_settings(limit))
