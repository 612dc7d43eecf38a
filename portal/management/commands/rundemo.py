"""The demo in phases: the embedded database (started by the settings), then
with ``--setup`` migrations, static files, the demo data (with a progress
bar) and the demo DPO account, then the Procfile's processes (web, worker,
beat) under honcho, each output line labelled with its process. Every phase
prints its name and the time it took. Ctrl-C (or SIGTERM) stops honcho's
processes, then the embedded database unless another program still uses it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess  # runs honcho on our own Procfile  # nosec B404
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict, deque

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from portal import broker, embedded_db


class Command(BaseCommand):
    help = "Run the Procfile (web, worker, beat) with honcho on the embedded defaults."

    def add_arguments(self, parser):
        parser.add_argument("--setup", action="store_true",
                            help="First migrate, collect static files, seed the demo data "
                                 "and create the --dpo account.")
        parser.add_argument("--dpo", default="",
                            help="The demo DPO's address (password from DPO_PASSWORD).")
        parser.add_argument("--procfile", default=str(settings.BASE_DIR / "Procfile"))
        parser.add_argument("--bind", default=os.environ.get("PORTAL_BIND", "127.0.0.1:8000"),
                            help="The web server's address (PORTAL_BIND).")

    def handle(self, *args, setup, dpo, procfile, bind, **options):
        self._database_phase()
        if setup:
            with self.phase("migrate", "database tables"):
                call_command("migrate", interactive=False, verbosity=0)
            with self.phase("static", "static files"):
                call_command("collectstatic", interactive=False, verbosity=0)
            with self.phase("seed", "demo photos, synthetic faces, customers"):
                call_command("seed_demo", stdout=self.stdout, stderr=self.stderr)
            if dpo:
                with self.phase("account", "the demo DPO account"):
                    self._demo_dpo(dpo)
        with self.phase("broker", "the broker's tables, where it is a database"):
            broker.ensure_tables(settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND)
        connection.close()
        failed = self._run_procfile(procfile, bind)
        self._stop_database()
        if failed:
            raise SystemExit(failed if 0 < failed < 256 else 1)

    # -- phases ---------------------------------------------------------------

    @contextlib.contextmanager
    def phase(self, name: str, what: str):
        self.stdout.write(f"==> {name}: {what}")
        self.stdout.flush()
        began = time.monotonic()
        yield
        self.stdout.write(f"    {name}: {time.monotonic() - began:.1f} s")

    def _database_phase(self) -> None:
        server = settings.EMBEDDED_DATABASE
        if server is None:
            self.stdout.write("==> database: DATABASE_URL (not the embedded one)")
            return
        how = "started" if server.started_here else "already running"
        self.stdout.write(f"==> database: embedded PostgreSQL in {server.pgdata} ({how})")
        self.stdout.write(f"    database: {server.seconds:.1f} s")

    def _demo_dpo(self, email: str) -> None:
        out = io.StringIO()
        try:
            call_command("createdpo", email, stdout=out)
        except CommandError as error:
            if "exists" not in str(error):
                raise
            self.stdout.write(f"    {email} is already there; its password is unchanged.")
            return
        password = os.environ.get("DPO_PASSWORD")
        if not password:  # createdpo made one up: show what it printed
            self.stdout.write(out.getvalue())
            return
        self.stdout.write(f"    {email} / {password} at /dpo/ (no second factor with DEBUG on)")

    # -- the processes --------------------------------------------------------

    def _run_procfile(self, procfile: str, bind: str) -> int | None:
        """Run honcho until it ends; the exit code of a process that ended by
        itself (honcho then stopped the others), None when asked to stop."""
        bin_dir = os.path.dirname(sys.executable)
        env = dict(os.environ, PORTAL_BIND=bind, PYTHONUNBUFFERED="1",
                   PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
        # E-mailed links point at the demo wherever it listens.
        env.setdefault("SITE_URL", site_url_for(bind))
        self.stdout.write(f"==> start: web, worker and beat from {procfile} (honcho)")
        self.stdout.flush()
        honcho = subprocess.Popen(  # noqa: S603  # our Procfile  # nosec B603
            [os.path.join(bin_dir, "honcho"), "start", "--procfile", procfile,
             "--app-root", str(settings.BASE_DIR), "--no-colour"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", bufsize=1,
        )
        began = time.monotonic()
        threading.Thread(target=self._announce_when_up, args=(honcho, bind, began),
                         daemon=True).start()
        asked_to_stop = threading.Event()

        # A terminal's Ctrl-C reaches honcho by itself (same process group);
        # a signal sent to this command alone is passed on.
        def forward(signum, frame):
            asked_to_stop.set()
            if honcho.poll() is None:
                honcho.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        watch = ProcessWatch()
        for line in honcho.stdout:
            self.stdout.write(line, ending="")
            self.stdout.flush()
            watch.feed(line)
        honcho.wait()
        if asked_to_stop.is_set() or watch.first_stopped is None:
            self.stdout.write("Web server, worker and beat stopped.")
            return None
        # A process ended by itself: honcho stopped the others.
        self.stderr.write(watch.why_stopped())
        return watch.first_stopped[1] or 1

    def _announce_when_up(self, honcho: subprocess.Popen, bind: str, began: float) -> None:
        url = f"http://{bind}/"
        while honcho.poll() is None and time.monotonic() - began < 300:
            try:
                with urllib.request.urlopen(url + "healthz", timeout=5):  # noqa: S310  # http://bind  # nosec B310
                    pass
            except urllib.error.HTTPError:
                pass  # it answers (503 while a part is still starting)
            except OSError:
                time.sleep(0.5)
                continue
            mailbox = f" E-mails: {url}dev/mail/" if settings.DEBUG else ""
            self.stdout.write(
                f"    start: {time.monotonic() - began:.1f} s. The portal answers on {url} "
                f"(DPO dashboard: {url}dpo/).{mailbox} Press Ctrl-C to stop."
            )
            self.stdout.flush()
            return

    def _stop_database(self) -> None:
        server = settings.EMBEDDED_DATABASE
        if server is None:
            return
        connection.close()
        others = embedded_db.stop_if_idle(server, settings.DATA_DIR)
        if others:
            self.stdout.write(f"The embedded database stays up: {others} other connection(s) "
                              "use it. `python manage.py embedded_db stop` stops it.")
        else:
            self.stdout.write(f"Embedded database stopped; the data stays in {settings.DATA_DIR}.")


def site_url_for(bind: str) -> str:
    """The address e-mailed links use for a demo listening on ``bind``: a
    server on every interface (0.0.0.0, [::]) is reached on this machine."""
    host, _, port = bind.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):  # noqa: S104  # read, not bound  # nosec B104
        host = "127.0.0.1"
    return f"http://{host}:{port}"


# What honcho labels each process with, in words.
PROCESS_NAMES = {"web": "the web server", "worker": "the Celery worker", "beat": "Celery beat"}
_HONCHO_LINE = re.compile(r"^\S+ (?P<name>\S+?)\s*\| (?P<text>.*)$")
_STOPPED = re.compile(r"^(?P<name>\S+) stopped \(rc=(?P<rc>-?\d+)\)")
_ERROR = re.compile(r"(Error|Exception|error:|refused|denied|not found)", re.IGNORECASE)


class ProcessWatch:
    """Reads honcho's output: the last lines of each process, and which
    process stopped first (the one that brought the others down)."""

    def __init__(self):
        self.tails: dict[str, deque] = defaultdict(lambda: deque(maxlen=60))
        self.first_stopped: tuple[str, int] | None = None

    def feed(self, line: str) -> None:
        match = _HONCHO_LINE.match(line.rstrip("\n"))
        if not match:
            return
        name, text = match["name"], match["text"]
        if name == "system":
            stopped = _STOPPED.match(text)
            if stopped and self.first_stopped is None:
                self.first_stopped = (stopped["name"], int(stopped["rc"]))
            return
        if text.strip():
            self.tails[name].append(text.strip())

    def reason(self, name: str) -> str:
        """The process's last line that names an error, else its last line."""
        tail = self.tails.get(name) or ()
        for text in reversed(tail):
            if _ERROR.search(text) and not text.startswith(("File ", "Traceback")):
                return text
        return tail[-1] if tail else "it printed nothing"

    def why_stopped(self) -> str:
        name, code = self.first_stopped
        what = PROCESS_NAMES.get(name.split(".")[0], name)
        return (f"The demo stopped: {what} ({name}) exited with code {code}, so honcho stopped "
                f"the other processes; its last error was: {self.reason(name)}")
