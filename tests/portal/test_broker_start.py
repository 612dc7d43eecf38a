"""The database broker starts from several processes at once (issue 29).

kombu creates its tables on a process's first connection, unlocked: on a
database that never held them, the worker and beat of `make demo` both ran
``CREATE SEQUENCE queue_id_sequence`` and the loser died. Checked on
2026-12-07 with kombu's own transport put back in place of the portal's:
the race test below failed (one round of three, on the queue name's unique
key; a script with the same barrier failed 5 rounds of 5 on
``pg_class_relname_nsp_index``); with the portal's transport it passes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection
from psycopg import sql

from portal import broker
from portal.models import WorkerHeartbeat
from tests.brokerrace import open_broker_at_once
from tests.portal.test_deploy import free_port
from tests.portal.test_health import wait_for
from tests.workers import database_url

QUEUES = settings.CELERY_QUEUES_CONSUMED
HEALTH = "broker-start-test-token-" + "h" * 24


def _server_args() -> dict:
    db = connection.settings_dict
    args = {"user": db["USER"], "host": db["HOST"]}
    if db["PORT"]:
        args["port"] = db["PORT"]
    if db["PASSWORD"]:
        args["password"] = db["PASSWORD"]
    return args


def _sqlalchemy_url(prefix: str, name: str) -> str:
    args = _server_args()
    auth = args["user"] + (f":{args['password']}" if "password" in args else "")
    if args["host"].startswith("/"):
        return f"{prefix}postgresql+psycopg://{auth}@/{name}?host={args['host']}"
    port = f":{args['port']}" if "port" in args else ""
    return f"{prefix}postgresql+psycopg://{auth}@{args['host']}{port}/{name}"


@contextmanager
def fresh_database():
    """A database that has never held the broker's tables, dropped after."""
    name = f"broker_start_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **_server_args()) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **_server_args()) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _rows(name: str, query: str) -> list[tuple]:
    with psycopg.connect(dbname=name, **_server_args()) as conn:
        return conn.execute(query).fetchall()


@pytest.mark.worker
@pytest.mark.parametrize("round_", range(3))
def test_processes_opening_a_fresh_database_broker_at_once_all_start(django_db_setup, round_):
    spawn = multiprocessing.get_context("spawn")
    racers = 6
    with fresh_database() as name:
        url = _sqlalchemy_url("portaldb+", name)
        barrier, results = spawn.Barrier(racers), spawn.Queue()
        processes = [spawn.Process(target=open_broker_at_once, args=(url, QUEUES, barrier, results))
                     for _ in range(racers)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(30)
        assert outcomes == ["started"] * racers, outcomes
        # One table each, one row per queue, every message kept.
        assert _rows(name, "SELECT name FROM kombu_queue ORDER BY name") == [
            (queue,) for queue in sorted(QUEUES)]
        assert _rows(name, "SELECT count(*) FROM kombu_message") == [(racers,)]


@pytest.mark.django_db
def test_ensure_tables_makes_broker_and_result_tables_once_and_is_harmless_again():
    with fresh_database() as name:
        made = broker.ensure_tables(_sqlalchemy_url("portaldb+", name),
                                    _sqlalchemy_url("db+", name))
        assert made == ["broker", "results"]
        tables = "SELECT relname FROM pg_class WHERE relkind IN ('r', 'S') ORDER BY relname"
        first = _rows(name, tables)
        assert {"kombu_queue", "kombu_message", "queue_id_sequence", "celery_taskmeta",
                "celery_tasksetmeta"} <= {row[0] for row in first}
        # Again (a second start): nothing new, nothing lost.
        broker.ensure_tables(_sqlalchemy_url("sqla+", name), _sqlalchemy_url("db+", name))
        assert _rows(name, tables) == first
    # A Redis broker with Redis results: no tables to make.
    assert broker.ensure_tables("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1") == []


def _procfile_env(port: int, name: str, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    bin_dir = os.path.dirname(sys.executable)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings", DEBUG="1", DATABASE_URL=database_url(),
        CELERY_BROKER_URL=_sqlalchemy_url("portaldb+", name),
        CELERY_RESULT_BACKEND=_sqlalchemy_url("db+", name),
        PORTAL_DATA_DIR=str(tmp_path / "data"), PORTAL_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1", CELERY_WORKER_CONCURRENCY="1", WORKER_HEARTBEAT_SECONDS="2",
        HEALTH_TOKEN=HEALTH, PYTHONUNBUFFERED="1",
        PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
    )
    return env


@pytest.mark.worker
def test_the_procfile_comes_up_healthy_on_five_fresh_broker_databases(transactional_db,
                                                                      tmp_path):
    """The Procfile's three processes, started together as in production
    (no set-up step first) on a broker database without its tables, five
    times in a row: each time /healthz says healthy, from this start's own
    worker, and no process died."""
    bin_dir = os.path.dirname(sys.executable)
    for round_ in range(5):
        # Healthy must come from this start: no heartbeat of an earlier one.
        WorkerHeartbeat.objects.all().delete()
        port = free_port()
        log = tmp_path / f"procfile-{round_}.log"
        with fresh_database() as name:
            honcho = subprocess.Popen(
                [os.path.join(bin_dir, "honcho"), "start", "--procfile",
                 str(settings.BASE_DIR / "Procfile"), "--app-root", str(settings.BASE_DIR),
                 "--no-colour"],
                env=_procfile_env(port, name, tmp_path), cwd=settings.BASE_DIR,
                stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
            try:
                def healthy(port=port, honcho=honcho, log=log, round_=round_):
                    assert honcho.poll() is None, (
                        f"start {round_ + 1}: a process died:\n{log.read_text()[-4000:]}")
                    try:
                        return requests.get(f"http://127.0.0.1:{port}/healthz",
                                            timeout=10).status_code == 200
                    except requests.ConnectionError:
                        return False

                wait_for(healthy, 180, f"a healthy /healthz on start {round_ + 1}")
                detail = requests.get(f"http://127.0.0.1:{port}/healthz/detail", timeout=30,
                                      headers={"Authorization": f"Bearer {HEALTH}"}).json()
                assert detail["status"] == "ok", detail
                assert detail["broker"]["transport"] == "portaldb+postgresql+psycopg"
                for queue in QUEUES:
                    # The Procfile's worker (celery@host), not a test worker.
                    assert detail["workers"]["queues"][queue]["worker"].startswith("celery@")
                assert requests.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
            finally:
                os.killpg(honcho.pid, signal.SIGTERM)
                honcho.wait(60)
        output = log.read_text()
        for process in ("web.1", "worker.1", "beat.1"):
            assert f"{process} started" in output, output[-3000:]
        assert "UniqueViolation" not in output and "IntegrityError" not in output, output[-4000:]
