"""Statements sent to PostgreSQL together: one write, one ``Sync``, the
results read back in one pass (libpq's pipeline mode, on Django's
connection).

Why not psycopg's ``Connection.pipeline()`` with cursors: each cursor's
``execute`` flushes the socket, so each statement is a write of its own and
wakes the server once more. For the nine statements of a search (``BEGIN``,
the settings, the query, ``COMMIT``) that came to about 0.3 ms a search on
the benchmark machine (bench/search_bench.py), more than the search itself
costs at 10,000 faces. Queued here, they leave in one write.

Each statement still passes through Django's cursor wrapper (:class:`_Queue`
stands in for the driver's cursor under it): Django's execute wrappers see
each one as it is sent (the Citus contract test records with one), the
debug query log lists each, and a database error comes out as Django's.

Parameters are named (``%(name)s``, as psycopg writes them) and bound on the
server: ``str``, ``int`` and ``float`` as text, ``None`` as NULL, and
:class:`Binary` as the bytes it holds, in the binary format of the type the
statement gives the parameter (``%(vector)s::vector(128)``).
"""

from __future__ import annotations

import functools
import re
import select
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import errors, pq
from psycopg.adapt import Transformer

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")


@dataclass(frozen=True, slots=True)
class Binary:
    """A parameter sent as these bytes, in the binary format of its type."""

    data: bytes


class _Queue:
    """Stands in for the driver's cursor under Django's cursor wrapper: what
    is executed on it is queued, to be sent by :func:`execute_together`."""

    def __init__(self):
        self.statements: list[tuple[str, Mapping | None]] = []

    def execute(self, sql: str, params: Mapping | None = None) -> None:
        self.statements.append((sql, params))

    def close(self) -> None:
        pass


def execute_together(statements: Sequence[tuple[str, Mapping | None]], *, rows_of: int,
                     using: str = DEFAULT_DB_ALIAS) -> list[tuple]:
    """Send ``statements`` (each SQL and its parameters, or ``None``) in one
    write and return the rows of the one at index ``rows_of``.

    They run in order, as in any pipeline: after a statement that fails, the
    rest are skipped, and the first error is raised once every result has
    been read. A transaction the statements open stays as they leave it
    (a failed one included): the caller ends it."""
    db = connections[using]
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    queue = _Queue()
    wrapper = db.make_cursor(queue)
    for sql, params in statements:
        wrapper.execute(sql, params)
    driver = db.connection
    start = time.monotonic()
    with db.wrap_database_errors:
        results = _send(driver.pgconn, [_numbered(sql, params) for sql, params in
                                        queue.statements])
        failed = next((r for r in results if r.status == pq.ExecStatus.FATAL_ERROR), None)
        if failed is not None:
            raise errors.error_from_result(failed, encoding=driver.info.encoding)
    if db.queries_logged:
        elapsed = f"{time.monotonic() - start:.3f}"
        for index, (sql, _) in enumerate(queue.statements):
            # The time of the whole write goes to the statement whose rows were asked for.
            db.queries_log.append({"sql": sql, "time": elapsed if index == rows_of else "0.000"})
    transformer = Transformer(driver)
    transformer.set_pgresult(results[rows_of])
    return transformer.load_rows(0, results[rows_of].ntuples, tuple)


def _numbered(sql: str, params: Mapping | None) -> tuple[bytes, list, list[int]]:
    """The statement as the server takes it (``$1``, ``$2`` ...), its
    parameters' values and their formats (0 text, 1 binary)."""
    query, names = _placeholders(sql)
    values, formats = [], []
    for name in names:
        value = (params or {})[name]
        if isinstance(value, Binary):
            values.append(value.data)
            formats.append(1)
            continue
        if value is None:
            values.append(None)
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(f"parameter {name}: {type(value).__name__} is not sent here")
        else:
            values.append(str(value).encode())
        formats.append(0)
    return query, values, formats


@functools.lru_cache(maxsize=128)
def _placeholders(sql: str) -> tuple[bytes, tuple[str, ...]]:
    names: list[str] = []

    def number(found: re.Match) -> str:
        if found.group() == "%%":
            return "%"
        if found.group(1) is None:
            raise ValueError(f"only named placeholders are bound here: {sql[:120]}")
        if found.group(1) not in names:
            names.append(found.group(1))
        return f"${names.index(found.group(1)) + 1}"

    return _PLACEHOLDER.sub(number, sql).encode(), tuple(names)


def _send(pgconn, statements: list[tuple[bytes, list, list[int]]]) -> list:
    """One result per statement, in order (a skipped one as
    ``PIPELINE_ABORTED``)."""
    if pgconn.pipeline_status != pq.PipelineStatus.OFF:
        raise errors.ProgrammingError("already in pipeline mode")
    pgconn.enter_pipeline_mode()
    try:
        for query, values, formats in statements:
            pgconn.send_query_params(query, values or None, param_formats=formats or None)
        pgconn.pipeline_sync()
        while pgconn.flush():
            if _wait(pgconn.socket, select.POLLIN | select.POLLOUT) & select.POLLIN:
                pgconn.consume_input()
        results = []
        while True:
            while pgconn.is_busy():
                _wait(pgconn.socket, select.POLLIN)
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                continue
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                break
            results.append(result)
    except BaseException:
        # Interrupted half way (a signal, a lost connection): what is left on
        # the socket cannot be matched to anything any more.
        pgconn.finish()
        raise
    pgconn.exit_pipeline_mode()
    return results


def _wait(fileno: int, events: int) -> int:
    """The events that came on the socket (waiting releases the GIL, and a
    signal is handled as it comes)."""
    poll = select.poll()
    poll.register(fileno, events)
    [(_, happened)] = poll.poll()
    return happened
