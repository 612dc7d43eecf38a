"""Deadline alerts to the DPO (Celery beat, daily): due soon (7 and 2
days before), due tomorrow, overdue every day (the days are in
``subjects.core.deadlines``). Each alert is one outbox message per request,
due date and days left (and, overdue, per day), so a rerun of the day's job
sends nothing twice, and an extension (a new due date) gets its own alerts.
The identity check waits on the DPO too: it is owed an answer one month
from the day the person started (``deadlines.answer_due_date``).

A request overdue is late, and the person is told so once per due date,
with their right to complain to the supervisory authority (Art. 77) and to
go to court (Art. 79): the controller's silence never ends a request, it
escalates.

Reminders to recipients (Celery beat, daily): an Art. 19 notice not yet
confirmed ``ART19_REMINDER_DAYS`` days after it (or after the last
reminder) is sent again with a fresh link, at most ``ART19_MAX_REMINDERS``
times; each reminder is one outbox message, so a rerun sends it once."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from subjects.core.deadlines import (
    ALERTS,
    DUE_SOON_DAYS,
    LATE_NOTICE,
    OVERDUE_ALERT,
    alert_for,
    answer_due_date,
)
from subjects.core.outbox import queue_email
from subjects.core.states import OPEN, State
from subjects.models import RecipientNotice, RightsRequest


def send_deadline_alerts(*, today: dt.date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    sent = dict.fromkeys([*ALERTS.values(), OVERDUE_ALERT], 0)
    # Open requests were received within the last few months; the due date
    # is derived, so it is computed here rather than filtered in SQL.
    owed = RightsRequest.objects.filter(
        Q(state__in=OPEN, received_at__isnull=False) | Q(state=State.IDENTITY_REVIEW))
    for request in owed:
        due = answer_due_date(request)
        days_left = (due - today).days
        kind = alert_for(days_left)
        if kind is None:
            continue
        if kind == OVERDUE_ALERT and request.state != State.INFO_REQUESTED and request.email:
            # Late: told once per due date (a new date after an extension
            # is told again).
            queue_email(request, LATE_NOTICE,
                        event_key=f"{LATE_NOTICE}:{request.reference}:{due.isoformat()}",
                        context={"due": due.isoformat(), "days_late": -days_left})
        # Overdue: one alert a day (the day in the key), not one per due date;
        # due soon twice (7 and 2 days before, the days left in the key).
        key = f"{kind}:{request.reference}:{due.isoformat()}"
        if kind == OVERDUE_ALERT:
            key += f":{today.isoformat()}"
        elif kind == ALERTS[DUE_SOON_DAYS] and days_left != DUE_SOON_DAYS:
            key += f":{days_left}"
        if queue_email(request, kind, event_key=key,
                       context={"due": due.isoformat(), "days_left": days_left}):
            sent[kind] += 1
    return sent


def send_acknowledgement_reminders(*, now: dt.datetime | None = None) -> int:
    """Remind the recipients that have not confirmed their notice; the
    number of reminders queued."""
    now = now or timezone.now()
    due = now - dt.timedelta(days=settings.ART19_REMINDER_DAYS)
    waiting = (
        RecipientNotice.objects.filter(acknowledged_at__isnull=True,
                                       reminders_sent__lt=settings.ART19_MAX_REMINDERS)
        .filter(Q(last_reminder_at__lte=due)
                | Q(last_reminder_at__isnull=True, notified_at__lte=due))
        .select_related("customer", "request")
    )
    sent = 0
    for notice in waiting:
        number = notice.reminders_sent + 1
        with transaction.atomic():
            # The conditional update is the claim: a second run takes nothing.
            if not RecipientNotice.objects.filter(
                    pk=notice.pk, reminders_sent=notice.reminders_sent).update(
                    reminders_sent=number, last_reminder_at=now):
                continue
            if notice.customer.contact_email and queue_email(
                    notice.request, "art19_reminder",
                    event_key=f"art19_reminder:{notice.pk}:{number}",
                    recipient=notice.customer.contact_email, language="en",
                    context={"customer": notice.customer.name, "faces": notice.faces,
                             "notice": notice.pk, "reminder": number,
                             "notified_on": timezone.localdate(notice.notified_at).isoformat()}):
                sent += 1
    return sent
