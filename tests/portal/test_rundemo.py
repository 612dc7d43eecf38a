"""The demo's runner: the Procfile's processes under honcho, each line
labelled with its process, the start timed, the mailbox served, and
everything stopped by one signal."""

import os
import re
import signal
import subprocess
import sys

import pytest
import requests
from django.conf import settings

from portal import embedded_db
from portal.celery import app
from tests.portal.test_deploy import free_port
from tests.portal.test_health import wait_for
from tests.waiting import wait_until
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
        def started():
            assert demo.poll() is None, log.read_text()[-3000:]
            return "    start: " in log.read_text()

        wait_until(started, timeout=120, interval=0.5, what="the demo's start phase")
        output = log.read_text()
        assert "==> start: web, worker and beat" in output, output[-3000:]
        assert f"The portal answers on http://127.0.0.1:{port}/" in output
        mailbox = requests.get(f"http://127.0.0.1:{port}/dev/mail/", timeout=30)
        assert mailbox.status_code == 200 and "Demo mailbox" in mailbox.text
        wait_until(lambda: "celery@" in log.read_text(), timeout=60, interval=0.5,
                   what="the worker's banner")
    finally:
        os.kill(demo.pid, signal.SIGTERM)
        demo.wait(60)
    output = log.read_text()
    # honcho labels every line with its process.
    for name in ("web.1", "worker.1", "beat.1"):
        assert f" {name} " in output and f"{name} stopped" in output, name
    assert "Web server, worker and beat stopped." in output
    assert demo.returncode == 0


def _demo_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL",
                        "CELERY_RESULT_BACKEND", "SITE_URL", "CACHE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", DEBUG="1",
               PORTAL_DATA_DIR=str(tmp_path / "data"), WEB_CONCURRENCY="1",
               CELERY_WORKER_CONCURRENCY="1", WORKER_HEARTBEAT_SECONDS="2",
               DPO_PASSWORD="fresh-demo-dpo-password-2026", **extra)
    return env


@pytest.mark.worker
def test_make_demos_start_on_a_fresh_data_folder_runs_every_phase_and_comes_up_healthy(
        tmp_path):
    """What `make demo` runs after installing, on a data folder that does not
    exist yet: its own embedded server, every phase in order, then the
    Procfile's processes, a healthy /healthz and the home page; SIGTERM stops
    everything, the embedded server included."""
    port = free_port()
    log = tmp_path / "demo.log"
    data = tmp_path / "data"
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--setup", "--dpo", "dpo@localhost",
         "--bind", f"127.0.0.1:{port}"],
        env=_demo_env(tmp_path), cwd=settings.BASE_DIR, stdout=log.open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def healthy():
            assert demo.poll() is None, log.read_text()[-4000:]
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz",
                                    timeout=10).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, 420, f"a healthy /healthz:\n{log.read_text()[-3000:]}")
        home = requests.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert home.status_code == 200
    finally:
        os.kill(demo.pid, signal.SIGTERM)
        demo.wait(90)
    output = log.read_text()
    phases = [f"==> database: embedded PostgreSQL in {data / 'pgdata'} (started)",
              "==> migrate: database tables", "==> static: static files",
              "==> seed: demo photos, synthetic faces, customers",
              "==> account: the demo DPO account",
              "    dpo@localhost / fresh-demo-dpo-password-2026 at /dpo/",
              "==> broker: the broker's tables, where it is a database",
              "==> start: web, worker and beat",
              f"The portal answers on http://127.0.0.1:{port}/",
              "Web server, worker and beat stopped.",
              f"Embedded database stopped; the data stays in {data}."]
    where = [output.find(phase) for phase in phases]
    assert -1 not in where, [p for p, at in zip(phases, where, strict=True) if at < 0]
    assert where == sorted(where), "the phases came out of order"
    for name in ("migrate", "static", "seed", "account", "broker"):
        assert re.search(rf"^    {name}: \d+\.\d s$", output, re.M), name
    assert "Demo data seeded: 23 photos" in output
    assert "UniqueViolation" not in output and "Traceback" not in output, output[-4000:]
    assert demo.returncode == 0
    assert not embedded_db.is_running(data)


@pytest.mark.worker
def test_a_demo_process_that_dies_is_named_with_its_reason_and_the_demo_exits_non_zero(
        django_db_setup, tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "web: gunicorn portal.wsgi --config deploy/gunicorn.conf.py\n"
        "worker: python -c \"import sys, time; time.sleep(1); "
        "print('RuntimeError: this worker stops on purpose'); sys.exit(3)\"\n")
    env = _demo_env(tmp_path, DATABASE_URL=database_url(),
                    CELERY_BROKER_URL=app.conf.broker_url,
                    CELERY_RESULT_BACKEND=app.conf.result_backend)
    done = subprocess.run(
        [sys.executable, "manage.py", "rundemo", "--procfile", str(procfile),
         "--bind", f"127.0.0.1:{free_port()}"],
        env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=180)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert ("The demo stopped: the Celery worker (worker.1) exited with code 3, so honcho "
            "stopped the other processes; its last error was: RuntimeError: this worker "
            "stops on purpose") in done.stderr
    assert "Web server, worker and beat stopped." not in done.stdout
