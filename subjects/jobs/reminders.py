"""Deadline alerts to the DPO (Celery beat, daily): due soon, due
tomorrow, overdue (the days are in ``subjects.core.deadlines``). Each alert
is one outbox message per request and due date, so a rerun of the day's
job sends nothing twice, and an extension (a new due date) gets its own
alerts."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from subjects.core.deadlines import ALERTS, OVERDUE_ALERT, alert_for
from subjects.core.outbox import queue_email
from subjects.core.states import OPEN
from subjects.models import RightsRequest


def send_deadline_alerts(*, today: dt.date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    sent = dict.fromkeys([*ALERTS.values(), OVERDUE_ALERT], 0)
    # Open requests were received within the last few months; the due date
    # is derived, so it is computed here rather than filtered in SQL.
    for request in RightsRequest.objects.filter(state__in=OPEN, received_at__isnull=False):
        due = request.due_date
        days_left = (due - today).days
        kind = alert_for(days_left)
        if kind is None:
            continue
        if queue_email(request, kind, event_key=f"{kind}:{request.reference}:{due.isoformat()}",
                       context={"due": due.isoformat(), "days_left": days_left}):
            sent[kind] += 1
    return sent
