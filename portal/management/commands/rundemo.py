"""Run the web server, a Celery worker and Celery beat together in the
foreground. Ctrl-C (or SIGTERM) stops all of them, and the embedded
database too when this command is what runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from portal import embedded_db


class Command(BaseCommand):
    help = "Run web server, Celery worker and beat on the embedded defaults until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=2, help="web server processes")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery processes")

    def handle(self, *args, bind, workers, concurrency, **options):
        bin_dir = os.path.dirname(sys.executable)
        queues = ",".join(settings.CELERY_QUEUES_CONSUMED)
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"), "portal.wsgi", "--bind", bind,
                "--workers", str(workers), "--timeout", "120", "--graceful-timeout", "5",
            ],
            "worker": [
                os.path.join(bin_dir, "celery"), "-A", "portal", "worker", "-Q", queues,
                "--concurrency", str(concurrency), "--loglevel", "INFO", "-n", "demo@%h",
            ],
            "beat": [
                os.path.join(bin_dir, "celery"), "-A", "portal", "beat", "--loglevel", "INFO",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILE,
            ],
        }
        processes: dict[str, subprocess.Popen] = {}
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            for name, command in commands.items():
                processes[name] = subprocess.Popen(command, start_new_session=True)
            self.stdout.write(
                f"The portal runs on http://{bind}/ (health: http://{bind}/healthz). "
                f"E-mails are written to {settings.EMAIL_FILE_PATH}. Press Ctrl-C to stop."
            )
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} stopped (exit code {process.returncode}); "
                                          "stopping the others.")
                        stopping = True
                time.sleep(0.3)
        finally:
            self._stop_all(processes)
            self._stop_database()

    def _stop_all(self, processes: dict[str, subprocess.Popen]) -> None:
        # Each child runs in its own session, so a terminal's Ctrl-C reaches
        # only this command: ask each main process to shut down gracefully
        # (it stops its own workers), then kill whatever is left of its group.
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 20
        for process in processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in processes.values():
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        self.stdout.write("Web server, worker and beat stopped.")

    def _stop_database(self) -> None:
        """Stop the embedded database, unless another program (a test run,
        a second shell) still uses it."""
        if settings.EMBEDDED_DATABASE is None:
            return
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                           "'client backend' AND pid <> pg_backend_pid()")
            others = cursor.fetchone()[0]
        connection.close()
        if others:
            self.stdout.write(f"The embedded database stays up: {others} other connection(s) "
                              "use it. `python manage.py embedded_db stop` stops it.")
        elif embedded_db.stop(settings.DATA_DIR):
            self.stdout.write(f"Embedded database stopped; the data stays in {settings.DATA_DIR}.")
