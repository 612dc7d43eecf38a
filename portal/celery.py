"""The Celery application. Queues: ``search`` (the camera check's bursts,
selfie search: the face model's work), ``requests`` (access packages,
erasure, objection), ``email`` (notifications) and ``default``
(housekeeping)."""

import os
import time

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, before_task_publish
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# The database broker: kombu's SQLAlchemy transport, safe to start from
# several processes at once and polling faster (see portal/broker.py). URLs
# look like portaldb+postgresql+psycopg://postgres@/portal?host=...; kombu's
# own sqla+ URLs get the same transport.
for _alias in ("portaldb", "sqla", "sqlalchemy"):
    TRANSPORT_ALIASES[_alias] = "portal.broker:Transport"

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def stamp_sent_at(headers=None, **kwargs):
    """Every task carries the time it was sent: the heartbeat reports how long
    it waited, and the health detail how long a queue's oldest task has."""
    if headers is not None:
        headers.setdefault("sent_at", time.time())


@after_setup_logger.connect
@after_setup_task_logger.connect
def cut_tokens_from_worker_logs(logger=None, **kwargs):
    """Celery sets up its own handlers in workers and beat, replacing
    Django's: theirs cut the tokens of request paths out too."""
    from portal.logredact import redact_handlers  # imported once Celery logs

    if logger is not None:
        redact_handlers(logger)
