"""Celery tasks: thin wrappers that load ids and call the function that
does the job."""

from smtplib import SMTPException

from celery import shared_task

from subjects import intake, notifications, selfie


@shared_task(name="subjects.run_selfie_search", bind=True,
             autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def run_selfie_search(self, request_id: int, selfie_name: str) -> str:
    return selfie.run_selfie_search(request_id, selfie_name)


@shared_task(name="subjects.send_email", bind=True,
             autoretry_for=(SMTPException, OSError), retry_backoff=5, retry_backoff_max=600,
             retry_jitter=True, max_retries=12)
def send_email(self, outbound_id: int) -> bool:
    return notifications.deliver_email(outbound_id)


@shared_task(name="subjects.expire_unverified")
def expire_unverified() -> int:
    return intake.expire_unverified()
