"""Faults: a database connection dropped in the middle of a job, and the
broker (Redis) restarted with tasks queued. SMTP down and workers killed
mid-job have their own tests (test_email_delivery, test_crash_recovery)."""

import shutil
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from subjects.models import OutboundEmail, RightsRequest
from subjects.review import decisions
from tests.mail import free_port
from tests.subjects.helpers import wait_for_state
from tests.subjects.scenario import file_via_worker, seed_world
from tests.subjects.test_execution import assert_erased_exactly_once
from tests.workers import Worker

pytestmark = [pytest.mark.worker]


def test_a_database_connection_dropped_mid_job_is_retried_and_the_job_completes(
    transactional_db, celery_worker, smtp_server, inbox, tmp_path
):
    address = "dropped.connection@example.org"
    world = seed_world("-dropped")
    request = file_via_worker(address, kinds=["erasure"], keep_template="yes")
    celery_worker.stop()
    _release()  # no marker of an earlier run may stand for this one
    worker = Worker(tmp_path / "held.log", concurrency=1, extra_env={
        "JOB_HOLD_AT": "erasure:photo", "JOB_RETRY_BASE_SECONDS": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": smtp_server.hostname, "EMAIL_PORT": str(smtp_server.port),
    }).start(wait=False)
    try:
        decisions.approve_request(request, actor="dpo.test")
        _hold(worker)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            assert cursor.fetchone()[0] >= 1
        _release()
        wait_for_state(request, "completed")
    finally:
        _release()
        worker.stop()
        celery_worker.start()
    assert_erased_exactly_once(world, request, inbox, address)
    log = worker.log_tail(400)
    assert "OperationalError" in log or "InterfaceError" in log, "the drop was not felt"
    assert request.events.filter(action="job_failed").count() == 0


def _hold(worker: Worker, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(m.read_text() == "erasure:photo" for m in settings.DATA_DIR.glob("job-paused-*")):
            return
        time.sleep(0.1)
    raise AssertionError(f"the worker never reached the hold point:\n{worker.log_tail()}")


def _release() -> None:
    for marker in settings.DATA_DIR.glob("job-paused-*"):
        marker.unlink()


def start_redis(folder, port: int) -> subprocess.Popen:
    server = shutil.which("redis-server")
    assert server, "this test needs redis-server (installed on the project's machines)"
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise AssertionError("redis-server did not start")


def test_tasks_queued_on_redis_survive_a_broker_restart(transactional_db, smtp_server, inbox,
                                                        tmp_path):
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = start_redis(tmp_path, port)
    addresses = [f"queued{n}.restart@example.org" for n in range(5)]
    request = RightsRequest.objects.create(email="owner.restart@example.org", state="verified",
                                           reference="FR-REDI-SRES-TART")
    ids = [OutboundEmail.objects.create(
        request=request, reference=request.reference, kind="request_expired",
        event_key=f"restart:{n}", recipient=address, language="en").pk
        for n, address in enumerate(addresses)]
    env = {**Worker(tmp_path / "none.log").env(), "CELERY_BROKER_URL": redis_url}
    try:
        # Queue the tasks on Redis while no worker runs.
        subprocess.run(
            [sys.executable, "-c",
             "import django; django.setup()\n"
             "from subjects.tasks import send_email\n"
             f"[send_email.delay(i) for i in {ids}]"],
            env=env, check=True, cwd=settings.BASE_DIR, timeout=120)
        # Restart the broker.
        redis.terminate()
        redis.wait(20)
        redis = start_redis(tmp_path, port)
        worker = Worker(tmp_path / "redis-worker.log", extra_env={
            "CELERY_BROKER_URL": redis_url,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": smtp_server.hostname, "EMAIL_PORT": str(smtp_server.port),
        })
        worker.start(wait=False)
        try:
            for address in addresses:
                inbox.wait_for(address, timeout=90)
        finally:
            worker.stop()
    finally:
        redis.terminate()
        redis.wait(20)
    assert all(len(inbox.to(address)) == 1 for address in addresses)
    assert set(OutboundEmail.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        "sent"}
