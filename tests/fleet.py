"""A fleet for the fault tests: a Redis broker of its own (so it can really
be restarted without disturbing anyone else's), Celery workers that can be
killed and replaced, beat running the recovery sweeps every second, and
holds, by which a test stops a worker at a named step
(``subjects.jobs.steps.checkpoint``) and lets it go again."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from portal.celery import app
from tests.mail import free_port
from tests.waiting import wait_until
from tests.workers import Worker

#: Settings of the fleet's processes: short leases and fast sweeps, so that
#: what takes a minute in production takes seconds here. A job's lease is
#: renewed while a test holds it; an e-mail's is not, so it outlasts any hold
#: (a held message taken back would be sent twice).
FAST_RECOVERY = {
    "RECOVERY_SWEEP_SECONDS": "1",
    "JOB_LEASE_SECONDS": "4",
    "EMAIL_LEASE_SECONDS": "10",
    "JOB_RETRY_BASE_SECONDS": "0",
    "EMAIL_RETRY_BASE_SECONDS": "1",
    # A journey meets a fault at every step of the same job; the default
    # limit is for one hiccup at a time.
    "JOB_MAX_RETRIES": "30",
}


class RedisServer:
    """A redis-server of the test's own, on a free port, with every write on
    disk (append-only file, fsync always), so a restart keeps the queues."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        server = shutil.which("redis-server")
        assert server, "the fault tests need redis-server (installed on the project's machines)"
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(answers, timeout=20, what="redis-server answering")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@contextmanager
def publishing_to(broker_url: str):
    """Make this process's Celery app publish to ``broker_url`` (tasks queued
    on commit by the code under test go where the fleet listens)."""
    previous = app.conf.broker_url

    def switch(url: str) -> None:
        app.pool.force_close_all()
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    switch(broker_url)
    try:
        yield
    finally:
        switch(previous)


class Beat(Worker):
    """Celery beat with the project's schedule, in a child process."""

    def start(self, *, wait: bool = False) -> Beat:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
             "-s", str(self.log_path.with_suffix(".schedule"))],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
            start_new_session=True)
        return self


class Fleet:
    """Workers (one task at a time each), beat and a Redis broker for the
    fault tests. ``env`` reaches every process."""

    def __init__(self, folder: Path, env: dict, *, workers: int = 2):
        self.folder = folder
        self.holds = folder / "holds"
        self.holds.mkdir(exist_ok=True)
        self.redis = RedisServer(folder)
        self.env = {**FAST_RECOVERY, **env, "JOB_HOLD_DIR": str(self.holds)}
        self.size = workers
        self.workers: list[Worker] = []
        self.started = 0
        self.beat: Beat | None = None

    @contextmanager
    def running(self):
        self.redis.start()
        with publishing_to(self.redis.url):
            try:
                for _ in range(self.size):
                    self.add_worker()
                self.workers[0].wait_ready()
                self.beat = Beat(self.folder / "beat.log", extra_env=self.env).start()
                yield self
            finally:
                if self.beat:
                    self.beat.kill()
                for worker in self.workers:
                    worker.kill()
                self.redis.stop()

    def add_worker(self) -> Worker:
        self.started += 1
        worker = Worker(self.folder / f"worker-{self.started}.log", concurrency=1,
                        extra_env=self.env).start(wait=False)
        self.workers.append(worker)
        return worker

    # -- holds ------------------------------------------------------------------------

    def hold(self, point: str) -> None:
        """Stop the first worker that reaches ``point`` (``step`` or
        ``step:detail``) there until :meth:`release`."""
        (self.holds / f"hold:{point}").write_text(point)

    def held(self) -> list[tuple[Path, int, str]]:
        """The workers waiting at a hold now: (marker, pid, point)."""
        found = []
        for marker in self.holds.glob("held-*"):
            try:
                point = marker.read_text()
            except FileNotFoundError:
                continue
            if point:  # an empty one is being written
                found.append((marker, int(marker.name.removeprefix("held-")), point))
        return found

    def pending_holds(self) -> list[str]:
        return [path.name.removeprefix("hold:") for path in self.holds.glob("hold:*")]

    def clear_holds(self) -> None:
        for path in self.holds.iterdir():
            path.unlink(missing_ok=True)

    @staticmethod
    def release(marker: Path) -> None:
        marker.unlink(missing_ok=True)

    # -- killing -----------------------------------------------------------------------

    def kill_worker_of(self, pid: int) -> int:
        """SIGKILL the whole worker (main process and pool) that runs process
        ``pid``, and start another in its place. Returns the killed worker's
        process group."""
        group = os.getpgid(pid)
        [worker] = [w for w in self.workers if w.process.pid == group]
        worker.kill()
        self.workers.remove(worker)
        self.add_worker()
        return group

    def log_tails(self, lines: int = 30) -> str:
        parts = [f"--- {w.log_path.name}\n{w.log_tail(lines)}" for w in self.workers]
        if self.beat:
            parts.append(f"--- beat\n{self.beat.log_tail(10)}")
        return "\n".join(parts)
