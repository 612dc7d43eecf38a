"""The office's beat task: thin, it calls the clock."""

from celery import shared_task

from subjects.office import breaches


@shared_task(name="office.breach_clock_alerts")
def breach_clock_alerts() -> int:
    return len(breaches.send_clock_alerts())
