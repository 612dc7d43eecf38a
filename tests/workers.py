"""A real Celery worker in a child process, on the test database and the
test broker, for tests that need the whole path."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from portal.celery import app
from tests.waiting import wait_until

#: What a worker's log says of a task, line by line: "Task NAME[ID]
#: received", then "retry: ...", "succeeded in ..." or "raised ...".
TASK_LINE = r"Task {name}\[([0-9a-f-]+)\] (received|retry|succeeded|raised)"
FINISHED = {"succeeded", "raised"}


def database_url() -> str:
    """The URL of the database the tests use (the throwaway test database)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    if db["HOST"].startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={db['HOST']}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{auth}@{db['HOST']}{port}/{db['NAME']}"


class Worker:
    def __init__(self, log_path: Path, *, queues: list[str] | None = None, concurrency: int = 2,
                 extra_env: dict | None = None):
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.queues = queues or settings.CELERY_QUEUES_CONSUMED
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="portal.settings_test",
            DATABASE_URL=database_url(),
            CELERY_BROKER_URL=app.conf.broker_url,
            CELERY_RESULT_BACKEND=app.conf.result_backend,
            PORTAL_DATA_DIR=str(settings.DATA_DIR),
        )
        env.update(self.extra_env)
        return env

    def start(self, *, wait: bool = True) -> Worker:
        if self.process and self.process.poll() is None:
            return self  # running: a second process would outlive stop()
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "portal", "worker",
                "-Q", ",".join(self.queues), "--concurrency", str(self.concurrency),
                "--loglevel", "INFO", "--without-heartbeat", "--without-gossip",
                "--without-mingle", "-n", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        from portal.tasks import ping

        result = ping.delay()
        try:
            result.get(timeout=timeout)
        except Exception as exc:
            raise RuntimeError(f"the Celery worker did not answer:\n{self.log_tail()}") from exc

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"

    def log_size(self) -> int:
        """Where the log ends now: pass it to :meth:`wait_for_tasks_done`."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def unfinished_tasks(self, name: str, since: int) -> list[str]:
        """The ids of tasks ``name`` the worker logged as received since
        ``since`` (a :meth:`log_size`) whose last line is not "succeeded" or
        "raised": queued, running or waiting for a retry."""
        with open(self.log_path, "rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        last = dict(re.findall(TASK_LINE.format(name=re.escape(name)), text))
        return [task_id for task_id, outcome in last.items() if outcome not in FINISHED]

    def wait_for_tasks_done(self, name: str, since: int, timeout: float = 90) -> None:
        """Wait until every task ``name`` received since ``since`` has
        finished, retries included: after that the worker holds none that
        could still act (send a message, say)."""
        wait_until(lambda: not self.unfinished_tasks(name, since), timeout=timeout, what=lambda: (
            f"every {name} task finishing (unfinished: {self.unfinished_tasks(name, since)})"
            f"\n{self.log_tail()}"))

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
