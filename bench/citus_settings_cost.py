"""What sending ``find_candidates``' settings apart from its query costs on
one node (issue 38), against the single string it sent before and against
settings carried by the connection.

Ways of sending the search's ``SET LOCAL`` settings (``search.matching``)
and its query, timed interleaved on the same connection and queries:

- ``single_string``: settings and query in one string, one round trip (what
  ``find_candidates`` sent before issue 38; Citus cannot run it);
- ``round_trips``: the settings (one string of ``SET`` statements), then the
  query, in one transaction, each waited for: ``BEGIN``, settings, query,
  ``COMMIT``, four round trips;
- ``pipeline`` (shipped, ``search.matching._settings_then_query``): the
  same statements one by one (pipeline mode sends no string of several),
  all in one round trip;
- ``connection``: the settings carried by the connection (a session ``SET``
  once, before the loop), the query alone: the least any way can cost, and
  not shippable as it is, since the settings (``enable_seqscan = off`` and
  the rest) would then hold for every other statement on the connection.

Run against ``BENCH_DATABASE_URL`` (any PostgreSQL with pgvector; a plain
one, not a coordinator, as the single string fails on Citus) or the
embedded server. ``BENCH_COST_SIZE`` synthetic faces (default 10,000),
``BENCH_QUERIES`` queries (default 200), each way ``BENCH_COST_ROUNDS``
times (default 5). Written to ``bench/results/citus_settings_cost.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

from bench import common  # noqa: E402

K = 10


def main() -> None:
    common.setup()
    from django.db import connection, transaction

    from bench import synthetic
    from search import matching
    from search.backends import get_backend

    size = common.env_int("BENCH_COST_SIZE", 10_000)
    count = common.env_int("BENCH_QUERIES", 200)
    rounds = common.env_int("BENCH_COST_ROUNDS", 5)
    common.heading(f"find_candidates' settings: {size:,} faces, {count} queries x {rounds}")
    data, _ = synthetic.ensure_loaded(size)
    queries, _ = synthetic.make_queries(data, count)
    backend = get_backend("dlib")
    sql = matching.nearest_faces_sql(backend, include_restricted=True)
    settings = matching._index_settings(K, filtered=False)
    statements = matching.set_local_statements(settings)

    def single_string(cursor, params):
        cursor.execute("; ".join([*statements, sql]), params)
        for _ in statements:
            cursor.nextset()
        return cursor.fetchall()

    def round_trips(cursor, params):
        with transaction.atomic():
            cursor.execute("; ".join(statements))
            cursor.execute(sql, params)
            return cursor.fetchall()

    def pipeline(cursor, params):
        return matching._settings_then_query(cursor, sql, params, K, filtered=False)

    def by_connection(cursor, params):
        cursor.execute(sql, params)
        return cursor.fetchall()

    ways = {"single_string": single_string, "round_trips": round_trips, "pipeline": pipeline,
            "connection": by_connection}
    times: dict[str, list[float]] = {name: [] for name in ways}
    answers: dict[str, list] = {name: [] for name in ways}
    with connection.cursor() as cursor:
        # The connection's own settings: what "connection" relies on (the
        # others set the same values again, locally).
        cursor.execute("; ".join(f"SET {name} = '{value}'" for name, value in settings.items()))
        for vector in queries[:20]:
            literal = matching.vector_literal(vector)
            for way in ways.values():
                way(cursor, [literal, backend.name, literal, K])
        load_before = [round(v, 2) for v in os.getloadavg()]
        for round_index in range(rounds):
            for index, vector in enumerate(queries):
                literal = matching.vector_literal(vector)
                params = [literal, backend.name, literal, K]
                names = list(ways)
                shift = (index + round_index) % len(names)
                for name in names[shift:] + names[:shift]:
                    start = time.perf_counter()
                    rows = ways[name](cursor, params)
                    times[name].append(time.perf_counter() - start)
                    if round_index == 0:
                        answers[name].append([row[0] for row in rows])
        cursor.execute("RESET ALL")
    results = {name: common.latency_summary(values) for name, values in times.items()}
    same = all(answer == answers["single_string"] for answer in answers.values())
    for name, summary in results.items():
        print(f"{name:<14} p50 {summary['p50_ms']:.3f} ms  p95 {summary['p95_ms']:.3f} ms",
              flush=True)
    single = results["single_string"]["p50_ms"]
    over = {name: round(summary["p50_ms"] - single, 4) for name, summary in results.items()}
    print(f"p50 over the single string: {over}; same faces from every way: {same}",
          flush=True)
    common.write_result("citus_settings_cost", {
        "size": size, "queries": count, "rounds": rounds, "limit": K,
        "load_average_before": load_before, "same_answers": same, "ways": results,
        "p50_over_single_string_ms": over,
    })


if __name__ == "__main__":
    main()
