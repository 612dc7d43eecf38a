"""The Celery application. Queues: ``search`` (selfie embedding and face
search), ``requests`` (access packages, erasure, objection), ``email``
(notifications) and ``default`` (housekeeping)."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# The embedded broker: kombu's SQLAlchemy transport on the embedded
# PostgreSQL, polling faster (see portal/broker.py). URLs look like
# portaldb+postgresql+psycopg://postgres@/portal?host=...
TRANSPORT_ALIASES.setdefault("portaldb", "portal.broker:Transport")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
