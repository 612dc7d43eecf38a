"""Benchmarks of the face rights portal: ``make bench`` runs them all.

Every script runs against its own database on the embedded PostgreSQL
(``bench_portal`` unless ``BENCH_DATABASE`` says otherwise), never the
demo's or the tests', prints its figures and writes them to
``bench/results/<name>.json``; :mod:`bench.report` turns the results into
``docs/performance.md`` and ``docs/scaling.md``.
"""
