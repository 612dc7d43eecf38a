"""Benchmark 5: the DPO queue with 1 thousand, 10 thousand and 100 thousand
requests: queries and milliseconds.

What the queue page reads, through the DPO dashboard's own selectors
(``subjects.dpo.selectors``): the counts per state, overdue and due soon, and
the first page (50 rows) of the default queue sorted by due date, each row
with its deadline. Where the dashboard's view can be reached it is also
fetched through Django's test client as a logged-in DPO (template included).
If the selectors do not exist, an equivalent ORM query over ``RightsRequest``
is measured instead, and the result says so.

Requests are made with ``bulk_create`` in a database of their own
(``bench_portal_queue``), with a realistic mix of states and receipt dates
over the last 90 days. Writes ``bench/results/queue.json``.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np

from bench import common

PAGE_SIZE = 50
REPEATS = 15
STATE_MIX = {
    "completed": 0.50, "expired": 0.12, "withdrawn": 0.05, "rejected": 0.03,
    "awaiting_review": 0.08, "in_progress": 0.04, "info_requested": 0.02, "filed": 0.01,
    "error": 0.01, "matches_ready": 0.06, "verified": 0.04, "unverified": 0.04,
}
FILED = {"completed", "rejected", "awaiting_review", "in_progress", "info_requested",
         "filed", "error"}


def make_requests(count: int, rng: np.random.Generator, offset: int) -> int:
    from django.utils import timezone

    from subjects.core.deadlines import stored_due_date
    from subjects.models import RightsRequest

    now = timezone.now()
    states = list(STATE_MIX)
    weights = np.array(list(STATE_MIX.values()))
    chosen = rng.choice(len(states), size=count, p=weights / weights.sum())
    ages = rng.uniform(0, 90, size=count)
    kinds = rng.integers(1, 8, size=count)
    languages = ["en", "nl", "fr", "de"]
    batch = []
    for i in range(count):
        state = states[chosen[i]]
        created = now - dt.timedelta(days=float(ages[i]))
        filed = state in FILED
        received = created + dt.timedelta(hours=1) if filed else None
        closed = (received + dt.timedelta(days=float(rng.uniform(1, 25)))
                  if state in {"completed", "rejected"} else None)
        number = offset + i
        batch.append(RightsRequest(
            email=f"person{number}@queue.bench.example",
            email_hash=f"{number:064x}",
            language=languages[number % 4],
            state=state,
            created_at=created,
            verified_at=created if state not in {"unverified", "expired"} else None,
            access=bool(kinds[i] & 1) and filed, erasure=bool(kinds[i] & 2) and filed,
            objection=bool(kinds[i] & 4) and filed,
            received_at=received,
            closed_at=closed,
            extension_months=2 if filed and number % 17 == 0 else 0,
        ))
        # bulk_create skips ``save``, which keeps the stored due date.
        batch[-1].due_on = stored_due_date(batch[-1])
    RightsRequest.objects.bulk_create(batch, batch_size=5000)
    return count


def dashboard():
    """The dashboard's selectors, or None if they are not there."""
    try:
        from subjects.dpo import selectors
    except ImportError:
        return None
    if not all(hasattr(selectors, name) for name in ("queue", "counts", "rows", "QueueFilters")):
        return None
    return selectors


def page_with_selectors(selectors) -> int:
    from django.core.paginator import Paginator
    from django.utils import timezone

    today = timezone.localdate()
    counts = selectors.counts(today=today)
    page = Paginator(selectors.queue(selectors.QueueFilters(), today=today),
                     PAGE_SIZE).get_page(1)
    rows = selectors.rows(page, today)
    for row in rows:
        (row.request.reference, row.request.get_state_display(), row.due_on, row.days_left,
         row.urgency, row.request.get_kinds_display())
    return counts.open + len(rows)


def page_with_orm() -> int:
    """The same page without the dashboard: open requests first by receipt,
    counts per state, 50 rows with their deadlines."""
    from django.core.paginator import Paginator
    from django.db.models import Count

    from subjects.core.states import OPEN
    from subjects.models import RightsRequest

    counts = dict(RightsRequest.objects.values_list("state").annotate(n=Count("pk"))
                  .order_by())
    queryset = (RightsRequest.objects.filter(state__in=OPEN)
                .defer("selfie_embedding", "email").order_by("received_at", "pk"))
    page = Paginator(queryset, PAGE_SIZE).get_page(1)
    for request in page:
        (request.reference, request.get_state_display(), request.due_date,
         request.is_overdue, request.get_kinds_display())
    return sum(counts.values()) + len(page)


class ViewClient:
    """The queue page through Django's test client, as a logged-in DPO."""

    def __init__(self):
        from django.contrib.auth import get_user_model
        from django.test import Client, override_settings
        from django.urls import reverse

        self.url = reverse("dpo:queue")
        from subjects.dpo.permissions import dpo_group

        user, _ = get_user_model().objects.get_or_create(
            username="bench-dpo", defaults={"email": "bench-dpo@example.org"})
        user.groups.add(dpo_group())
        self.override = override_settings(REQUIRE_DPO_2FA=False, ALLOWED_HOSTS=["*"],
                                          SECURE_SSL_REDIRECT=False)
        self.override.enable()
        self.client = Client()
        self.client.force_login(user)

    def get(self) -> int:
        response = self.client.get(self.url)
        if response.status_code != 200:
            raise RuntimeError(f"the queue page answered {response.status_code}")
        return len(response.content)

    def close(self):
        self.override.disable()


def measure(function) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    function()  # warm-up
    times, queries = [], []
    for _ in range(REPEATS):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        queries.append(len(captured.captured_queries))
    return {**common.latency_summary(times), "queries": max(queries),
            "queries_min": min(queries)}


def main() -> None:
    os.environ.setdefault("BENCH_DATABASE", "bench_portal_queue")
    common.setup()
    from django.db import connection

    sizes = common.env_sizes("BENCH_QUEUE_SIZES", [1_000, 10_000, 100_000])
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE subjects_rightsrequest CASCADE")
    selectors = dashboard()
    source = ("subjects.dpo.selectors (counts, queue, rows: the dashboard's own reads)"
              if selectors else "equivalent ORM query (subjects.dpo.selectors not found)")
    view = None
    view_error = None
    try:
        view = ViewClient()
    except Exception as exc:  # noqa: BLE001 - the view is optional here
        view_error = f"{type(exc).__name__}: {exc}"
    common.heading(f"DPO queue, measured through {source}")
    rng = np.random.default_rng(17)
    made = 0
    results = []
    for size in sorted(sizes):
        start = time.perf_counter()
        made += make_requests(size - made, rng, made)
        with connection.cursor() as cursor:
            # What autovacuum does to a table after a bulk load: statistics, and
            # the visibility map that lets counts read the state index alone.
            cursor.execute("VACUUM ANALYZE subjects_rightsrequest")
        created = time.perf_counter() - start
        row = {"requests": size, "create_s": round(created, 2),
               "selectors" if selectors else "orm": measure(
                   (lambda: page_with_selectors(selectors)) if selectors else page_with_orm)}
        if view is not None:
            try:
                row["view"] = measure(view.get)
            except Exception as exc:  # noqa: BLE001 - the view is optional here
                view_error = f"{type(exc).__name__}: {exc}"
                view.close()
                view = None
        results.append(row)
        measured = row.get("selectors") or row.get("orm")
        line = (f"{size:>8,} requests: {measured['queries']} queries, "
                f"p50 {measured['p50_ms']:.1f} ms, p95 {measured['p95_ms']:.1f} ms")
        if "view" in row:
            line += (f"; page: {row['view']['queries']} queries, "
                     f"p50 {row['view']['p50_ms']:.1f} ms")
        print(line, flush=True)
    if view is not None:
        view.close()
    key = "selectors" if selectors else "orm"
    counts = {row[key]["queries"] for row in results}
    view_counts = {row["view"]["queries"] for row in results if "view" in row}
    common.write_result("queue", {
        "source": source,
        "page_size": PAGE_SIZE,
        "sizes": results,
        "query_count_constant": len(counts) == 1,
        "view_query_count_constant": (len(view_counts) == 1) if view_counts else None,
        "view_error": view_error,
    })


if __name__ == "__main__":
    main()
