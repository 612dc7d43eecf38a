"""Celery tasks: thin wrappers that load ids and call the function that
does the job. Lower floors queue them by name (``subjects.core.queueing``)."""

import contextlib
import logging
import os
from smtplib import SMTPException

from celery import shared_task
from django import db
from django.conf import settings

from subjects.core import queueing, state_counts
from subjects.jobs import (
    audit_heads,
    camera_check,
    delivery,
    reminders,
    retention,
    runner,
    selfie_search,
    steps,
)

logger = logging.getLogger(__name__)


class DeliveryDeferred(Exception):
    """An e-mail not delivered yet; the message names the SMTP error's kind."""


def retried_or_failed(task, work, fail, *, countdown) -> str:
    """Run ``work``; a transient error (the database or broker cut off) is
    retried ``JOB_MAX_RETRIES`` times, ``countdown(retries)`` seconds apart,
    then handed to ``fail``, as is any other error (a bug: retrying will not
    help)."""
    try:
        return work()
    except steps.TRANSIENT as error:
        db.connection.close()
        if task.request.retries < settings.JOB_MAX_RETRIES:
            raise task.retry(exc=error, countdown=countdown(task.request.retries)) from None
        fail(error)
        return "failed"
    except Exception as error:  # noqa: BLE001 - a bug: retrying will not help
        fail(error)
        return "failed"


@shared_task(name=queueing.SELFIE_SEARCH, bind=True, max_retries=None)
def run_selfie_search(self, request_id: int, selfie_name: str) -> str:
    return retried_or_failed(
        self, lambda: selfie_search.run_selfie_search(request_id, selfie_name),
        lambda error: selfie_search.fail_search(request_id, selfie_name, error),
        countdown=lambda retries: min(300, settings.JOB_RETRY_BASE_SECONDS * 2 ** retries))


@shared_task(name=queueing.CHECK_BURST, bind=True, max_retries=None)
def check_camera_burst(self, challenge_id: int, step: int) -> str:
    def fail(error: BaseException) -> None:
        logger.error("camera check %s failed: %s", challenge_id, type(error).__name__)
        camera_check.give_up(challenge_id)

    return retried_or_failed(self, lambda: camera_check.check_burst(challenge_id, step), fail,
                             countdown=lambda retries: 1)


@shared_task(name=queueing.SEND_EMAIL, bind=True, max_retries=None)
def send_email(self, outbound_id: int) -> bool:
    try:
        return delivery.deliver_email(outbound_id, sender=self.request.id or "")
    except (SMTPException, *steps.TRANSIENT) as error:
        # SMTP errors quote addresses; Celery logs the retry's exception, so
        # it gets one that names the kind of failure only.
        db.connection.close()  # in case it was the database's connection that broke
        deferred = DeliveryDeferred(type(error).__name__)
        if self.request.retries >= settings.EMAIL_MAX_RETRIES:
            raise deferred from None  # the sweep sends it when it is due again
        countdown = delivery.backoff(self.request.retries + 1)
        raise self.retry(exc=deferred, countdown=countdown) from None


@shared_task(name="subjects.run_purges", bind=True)
def run_purges(self) -> dict:
    done = retention.run_purges()
    if any(count >= retention.BATCH_SIZE for count in done.values()):
        run_purges.delay()  # more is due: the next batch, now
    return done


@shared_task(name="subjects.compact_state_counts")
def compact_state_counts() -> int:
    return state_counts.compact()


@shared_task(name="subjects.send_deadline_alerts")
def send_deadline_alerts() -> dict:
    return reminders.send_deadline_alerts()


@shared_task(name=queueing.CARRY_OUT_REQUEST, bind=True, max_retries=None)
def carry_out_request(self, request_id: int) -> str:
    owner = f"{self.request.id}:{os.getpid()}"
    try:
        return runner.run_request_jobs(request_id, owner=owner)
    except steps.LeaseHeld as held:
        # Another worker runs it, or a dead one held it: look again later.
        raise self.retry(countdown=held.seconds, max_retries=None) from None
    except steps.JobFailed as failure:
        runner.fail_request(request_id, failure)
        return "failed"
    except steps.TRANSIENT as error:
        # A dropped database connection is opened afresh on next use.
        db.connection.close()
        with contextlib.suppress(*steps.TRANSIENT):
            runner.release_lease(request_id)
        if self.request.retries >= settings.JOB_MAX_RETRIES:
            runner.fail_request(request_id, error)
            return "failed"
        backoff = settings.JOB_RETRY_BASE_SECONDS * 2 ** self.request.retries
        raise self.retry(exc=error, countdown=min(300, backoff)) from None
    except Exception as error:
        # A bug, not a hiccup: retrying will not help; stop and tell the DPO.
        logger.exception("request job %s failed", request_id)
        runner.fail_request(request_id, error)
        return "failed"


@shared_task(name="subjects.resume_stalled_jobs")
def resume_stalled_jobs() -> int:
    return runner.resume_stalled_jobs()


@shared_task(name="subjects.resend_stalled_emails")
def resend_stalled_emails() -> int:
    return delivery.resend_stalled_emails()


@shared_task(name="subjects.publish_audit_head")
def publish_audit_head() -> int:
    return audit_heads.publish_audit_head().sequence


@shared_task(name="subjects.send_acknowledgement_reminders")
def send_acknowledgement_reminders() -> int:
    return reminders.send_acknowledgement_reminders()
@shared_task(name="subjects.resume_stalled_searches")
def resume_stalled_searches() -> int:
    """Searches and camera checks whose task was lost, queued again."""
    return selfie_search.resume_stalled_searches() + camera_check.resume_stalled_checks()
