"""Deadline alerts to the DPO (Celery beat, daily): due in 7 days, due
tomorrow, overdue. Each alert is one outbox message per request and due
date, so a rerun of the day's job sends nothing twice, and an extension
(a new due date) gets its own alerts."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from subjects.models import RightsRequest
from subjects.notifications import queue_email
from subjects.states import OPEN


def send_deadline_alerts(*, today: dt.date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    sent = {"dpo_due_soon": 0, "dpo_due_tomorrow": 0, "dpo_overdue": 0}
    # Open requests were received within the last few months; the due date
    # is derived, so it is computed here rather than filtered in SQL.
    for request in RightsRequest.objects.filter(state__in=OPEN, received_at__isnull=False):
        due = request.due_date
        days_left = (due - today).days
        if days_left == 7:
            kind = "dpo_due_soon"
        elif days_left == 1:
            kind = "dpo_due_tomorrow"
        elif days_left < 0:
            kind = "dpo_overdue"
        else:
            continue
        if queue_email(request, kind, event_key=f"{kind}:{request.reference}:{due.isoformat()}",
                       context={"due": due.isoformat(), "days_left": days_left}):
            sent[kind] += 1
    return sent
