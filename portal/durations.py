"""Durations for the ``/metrics`` histograms, recorded where the work is
done (a search worker, a request job) and read by whichever web process is
scraped: each observation adds one to its bucket of a row of
:class:`~portal.models.DurationHistogram`, in one statement, after the
caller's transaction commits (so that a long transaction never holds the
series' row, and work that rolls back is not counted).
"""

from __future__ import annotations

import bisect
import logging

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger(__name__)

#: Upper bounds (seconds) of each histogram's buckets; one more bucket for
#: anything above. The whole selfie pipeline took 826 ms per selfie at a
#: million faces in the selfie benchmark (docs/performance.md); a request
#: job is timed from its creation (the approval) until it is done.
BOUNDS: dict[str, tuple[float, ...]] = {
    "selfie_search": (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    "request_job": (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0),
}

_ADD = """
    INSERT INTO portal_durationhistogram (name, label, buckets, count, total)
    VALUES (%(name)s, %(label)s, %(buckets)s, 1, %(seconds)s)
    ON CONFLICT (name, label) DO UPDATE SET
        buckets[%(index)s] = portal_durationhistogram.buckets[%(index)s] + 1,
        count = portal_durationhistogram.count + 1,
        total = portal_durationhistogram.total + EXCLUDED.total
"""


def observe(name: str, label: str, seconds: float) -> None:
    """Count ``seconds`` in the histogram ``name`` (``label``: the one label
    it has, e.g. a job's kind), once the caller's transaction commits."""
    transaction.on_commit(lambda: _add(name, label, max(0.0, seconds)))


def _add(name: str, label: str, seconds: float) -> None:
    bounds = BOUNDS[name]
    position = bisect.bisect_left(bounds, seconds)  # the first bound >= seconds
    buckets = [0] * (len(bounds) + 1)
    buckets[position] = 1
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_ADD, {"name": name, "label": label, "buckets": buckets,
                                  "seconds": seconds, "index": position + 1})
    except DatabaseError as error:  # a figure lost is better than a job failed
        logger.warning("duration of %s not recorded: %s", name, type(error).__name__)


def buckets_of(name: str, counts: list[int]) -> list[tuple[str, int]]:
    """Cumulative counts per upper bound, as Prometheus wants them."""
    bounds = BOUNDS[name]
    found, total = [], 0
    for bound, count in zip([*map(repr, bounds), "+Inf"], counts, strict=False):
        total += count
        found.append((bound, total))
    return found
