"""The portal's figures for Prometheus (``/metrics``), read at each scrape
from the database and the broker, so that every web process answers the
same and nothing is lost when a process restarts: requests by state and
against their deadlines, the e-mail outbox, the queues and the workers'
heartbeats (as ``/healthz/detail`` sees them, :mod:`portal.health`), the
camera checks by outcome and reason, and the durations the workers
recorded (:mod:`portal.durations`).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from portal import health
from portal.durations import buckets_of
from portal.models import DurationHistogram
from subjects.core.deadlines import DUE_SOON_DAYS
from subjects.dpo.selectors import counts
from subjects.models import LivenessChallenge, OutboundEmail

#: The text format every Prometheus server reads (the library's newest,
#: 1.0.0, is for servers that accept UTF-8 names; these names need none).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: What each histogram measures, for its HELP line.
DURATIONS = {
    "selfie_search": ("portal_selfie_search_seconds",
                      "Seconds a search worker took to embed a selfie, search and keep "
                      "the matches.", None),
    "request_job": ("portal_request_job_seconds",
                    "Seconds from a request job's creation (the approval) until it was "
                    "done.", "kind"),
}


class PortalCollector:
    """Every family, read afresh at each scrape."""

    def collect(self):
        yield from requests_families()
        yield from email_families()
        yield from queue_families()
        yield camera_check_family()
        yield from duration_families()


def requests_families():
    figures = counts()
    by_state = GaugeMetricFamily("portal_requests", "Requests in each state.",
                                 labels=["state"])
    for state, number in sorted(figures.by_state.items()):
        by_state.add_metric([state], number)
    yield by_state
    yield GaugeMetricFamily("portal_requests_overdue",
                            "Open requests past their due date.", value=figures.overdue)
    yield GaugeMetricFamily("portal_requests_due_soon",
                            f"Open requests due within {DUE_SOON_DAYS} days.",
                            value=figures.due_soon)


def email_families():
    by_status = dict.fromkeys(OutboundEmail.Status.values, 0)
    by_status.update(OutboundEmail.objects.order_by().values_list("status")
                     .annotate(n=Count("pk")))
    family = GaugeMetricFamily("portal_emails", "Outbox messages in each status.",
                               labels=["status"])
    for status, number in sorted(by_status.items()):
        family.add_metric([status], number)
    yield family
    oldest = OutboundEmail.objects.filter(
        status__in=[OutboundEmail.Status.PENDING, OutboundEmail.Status.SENDING],
    ).aggregate(oldest=Min("created_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    yield GaugeMetricFamily("portal_email_oldest_unsent_seconds",
                            "Seconds since the oldest message not yet accepted by a mail "
                            "server was created (0: none).", value=round(age, 1))
    yield GaugeMetricFamily("portal_email_lease_seconds",
                            "EMAIL_LEASE_SECONDS: a message being sent is sent again after "
                            "this long.", value=settings.EMAIL_LEASE_SECONDS)


def queue_families():
    broker = health.broker_status()
    yield GaugeMetricFamily("portal_broker_up", "1 when the broker answered this scrape.",
                            value=1 if broker["ok"] else 0)
    waiting = GaugeMetricFamily("portal_queue_waiting_tasks", "Tasks waiting in each queue.",
                                labels=["queue"])
    oldest = GaugeMetricFamily("portal_queue_oldest_task_seconds",
                               "Seconds the oldest waiting task of each queue has waited "
                               "(absent where the broker cannot tell).", labels=["queue"])
    for queue, figures in sorted(broker.get("queues", {}).items()):
        if figures["waiting"] is not None:
            waiting.add_metric([queue], figures["waiting"])
        if figures["oldest_waiting_seconds"] is not None:
            oldest.add_metric([queue], figures["oldest_waiting_seconds"])
    yield waiting
    yield oldest
    workers = health.worker_status()
    up = GaugeMetricFamily("portal_worker_up",
                           "1 when a worker ran the queue's heartbeat within three "
                           "heartbeat intervals.", labels=["queue"])
    age = GaugeMetricFamily("portal_worker_heartbeat_age_seconds",
                            "Seconds since a worker last ran the queue's heartbeat (absent: "
                            "never).", labels=["queue"])
    for queue, figures in sorted(workers["queues"].items()):
        up.add_metric([queue], 1 if figures["ok"] else 0)
        if figures["last_heartbeat_seconds_ago"] is not None:
            age.add_metric([queue], figures["last_heartbeat_seconds_ago"])
    yield up
    yield age


def camera_check_family():
    family = CounterMetricFamily("portal_camera_checks",
                                 "Camera checks finished, by outcome and by the reason of a "
                                 "refusal (each reason belongs to one rule).",
                                 labels=["outcome", "reason"])
    finished = (LivenessChallenge.objects.filter(used_at__isnull=False)
                .values_list("passed", "failure").annotate(n=Count("pk"))
                .order_by("passed", "failure"))
    for passed, failure, number in finished:
        family.add_metric(["passed" if passed else "failed", "" if passed else failure],
                          number)
    return family


def duration_families():
    rows = {(row.name, row.label): row for row in DurationHistogram.objects.all()}
    for name, (metric, documentation, label) in DURATIONS.items():
        family = HistogramMetricFamily(metric, documentation,
                                       labels=[label] if label else None)
        for (row_name, row_label), row in sorted(rows.items()):
            if row_name == name:
                family.add_metric([row_label] if label else [], buckets_of(name, row.buckets),
                                  row.total)
        yield family


def exposition() -> bytes:
    """The text Prometheus scrapes."""
    return generate_latest(PortalCollector())

