"""The demo's runner: the Procfile's processes under honcho, each line
labelled with its process, the start timed, the mailbox served, and
everything stopped by one signal."""

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings

from portal.celery import app
from tests.portal.test_deploy import free_port
from tests.workers import database_url


@pytest.mark.worker
def test_rundemo_runs_the_procfile_with_labelled_lines_and_stops_on_sigterm(django_db_setup,
                                                                           tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", DEBUG="1",
               DATABASE_URL=database_url(), CELERY_BROKER_URL=app.conf.broker_url,
               CELERY_RESULT_BACKEND=app.conf.result_backend,
               PORTAL_DATA_DIR=str(tmp_path / "data"), WEB_CONCURRENCY="1")
    env.pop("SITE_URL", None)
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--bind", f"127.0.0.1:{port}"],
        env=env, cwd=settings.BASE_DIR, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "    start: " not in log.read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        output = log.read_text()
        assert "==> start: web, worker and beat" in output, output[-3000:]
        assert f"The portal answers on http://127.0.0.1:{port}/" in output
        mailbox = requests.get(f"http://127.0.0.1:{port}/dev/mail/", timeout=30)
        assert mailbox.status_code == 200 and "Demo mailbox" in mailbox.text
        deadline = time.monotonic() + 60
        while "celery@" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        os.kill(demo.pid, signal.SIGTERM)
        demo.wait(60)
    output = log.read_text()
    # honcho labels every line with its process.
    for name in ("web.1", "worker.1", "beat.1"):
        assert f" {name} " in output and f"{name} stopped" in output, name
    assert "Web server, worker and beat stopped." in output
    assert demo.returncode == 0
