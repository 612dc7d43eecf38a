"""Faults outside the matrix (tests/portal/test_fault_matrix.py): tasks
queued on Redis while no worker runs survive a broker restart."""

import subprocess
import sys

import pytest
from django.conf import settings

from subjects.models import OutboundEmail, RightsRequest
from tests.fleet import RedisServer
from tests.waiting import wait_until
from tests.workers import Worker

pytestmark = [pytest.mark.worker]


def test_tasks_queued_on_redis_survive_a_broker_restart(transactional_db, smtp_server, inbox,
                                                        tmp_path):
    redis = RedisServer(tmp_path).start()
    addresses = [f"queued{n}.restart@example.org" for n in range(5)]
    request = RightsRequest.objects.create(email="owner.restart@example.org", state="verified",
                                           reference="FR-REDI-SRES-TART")
    ids = [OutboundEmail.objects.create(
        request=request, reference=request.reference, kind="request_expired",
        event_key=f"restart:{n}", recipient=address, language="en").pk
        for n, address in enumerate(addresses)]
    env = {**Worker(tmp_path / "none.log").env(), "CELERY_BROKER_URL": redis.url}
    try:
        # Queue the tasks on Redis while no worker runs.
        subprocess.run(
            [sys.executable, "-c",
             "import django; django.setup()\n"
             "from subjects.tasks import send_email\n"
             f"[send_email.delay(i) for i in {ids}]"],
            env=env, check=True, cwd=settings.BASE_DIR, timeout=120)
        # Restart the broker.
        redis.stop()
        redis.start()
        worker = Worker(tmp_path / "redis-worker.log", extra_env={
            "CELERY_BROKER_URL": redis.url,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": smtp_server.hostname, "EMAIL_PORT": str(smtp_server.port),
        })
        worker.start(wait=False)
        try:
            for address in addresses:
                inbox.wait_for(address, timeout=90)
            # The server has them; the worker notes each as sent just after.
            wait_until(lambda: set(OutboundEmail.objects.filter(pk__in=ids)
                                   .values_list("status", flat=True)) == {"sent"},
                       timeout=30, what="every message noted as sent")
        finally:
            worker.stop()
    finally:
        redis.stop()
    assert all(len(inbox.to(address)) == 1 for address in addresses)
    assert set(OutboundEmail.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        "sent"}
