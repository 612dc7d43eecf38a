"""Soak: the demo stack for a bounded time, people going through the whole
journey while faults strike at random; what was filed, completed, sent and
lost, and how long the work took to move again after each fault.

The stack is the demo's (``make demo``: gunicorn with 2 workers, a Celery
worker with 2 processes, beat, the embedded PostgreSQL, the demo's seed),
on a database of its own (``soak_portal``, made afresh), with a Redis broker
of its own (a ``redis-server`` on a free port, so restarting it disturbs no
one) and an SMTP server in this process (aiosmtpd, tests/mail.py) that can
refuse. Production's recovery settings, unchanged: sweeps every 15 s,
leases of 60 s. Rate limits are off (every person comes from one address),
requests are approved without a DPO (``AUTO_APPROVE_REQUESTS``), the
per-face guard is off (``FACE_GUARD_DAYS=0``: every person shows the same
face, which would otherwise send all but the first to the DPO's identity
check) and each pose of the camera check may take up to two minutes to
arrive (``LIVENESS_POSE_SECONDS``: twenty people share two web workers on a
small machine). The soak measures what faults do to the work behind the
pages, not the camera check.

Each of ``--people`` people goes through journeys, one after another, until
``--minutes`` are up: the start page and the verification e-mail, the
link and its button, the camera check (for each pose shown, a burst of
frames of the sample video with a pattern of tiles of the journey's own,
since the check refuses frames it has seen: ``bench.load.burst``), the
matches, filing (access;
and one person at a time, erasure or objection of the faces shown as
likely theirs, with the video's person's photo planted again before, so
there is something to erase), then waits until the request is completed.
Meanwhile, one at a time and 20-60 s apart, a fault at random: every
database connection dropped (``pg_terminate_backend``), the Celery worker
killed with SIGKILL (and started again 2 s later, as a supervisor would),
the SMTP server answering 4xx, 5xx or dropping the connection for 10-30 s,
the broker stopped for 1-5 s and started again.

Then faults stop and no journey starts; the run waits (``--drain-minutes``)
for every request to finish and every e-mail to be sent, and counts:
requests filed and completed (any other is stuck), e-mails expected (every
outbox row of the run), delivered (by Message-ID at the SMTP server),
duplicated (more than one copy) and lost (none); and for each fault the
recovery time: from the fault until every piece of work that was waiting
when it struck, or during it, has moved on (a request changed state or
recorded a job step, an e-mail was sent). Results go to
``bench/results/soak.json`` and to the table in ``docs/faults.md``::

    .venv/bin/python bench/soak.py --minutes 15 --people 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.load import CHALLENGE, CSRF, FACES_DIR, burst, percentile  # noqa: E402
from portal import embedded_db  # noqa: E402
from tests.mail import DROP, PERMANENT, TEMPORARY, free_port, start_smtp_server  # noqa: E402

RESULTS = BASE_DIR / "bench" / "results" / "soak.json"
#: The page whose soak table (between its soak markers) a run rewrites.
SOAK_PAGE = BASE_DIR / "docs" / "faults.md"
DATABASE = "soak_portal"
FAULTS = ["db_drop", "sigkill", "smtp_4xx", "smtp_5xx", "smtp_drop", "broker_restart"]
SMTP_FAULTS = {"smtp_4xx": TEMPORARY, "smtp_5xx": PERMANENT, "smtp_drop": DROP}
#: Photos planted again before each erasure or objection: the face of the
#: person in the sample video that every camera check shows.
PLANTED = ["lin_manuel_miranda_1.png"]
MATCH = re.compile(r'<li class="match[^"]*">\s*<fieldset>(.*?)</fieldset>', re.S)
DECISION = re.compile(r'name="decision_(\d+)"')
VERIFY_LINK = re.compile(r"https?://[^\s\"<>]+/verify/[^\s\"<>]+")

log_lock = threading.Lock()


def say(text: str) -> None:
    with log_lock:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- the stack ----------------------------------------------------------------------------


class Stack:
    """The demo's processes on the soak's database, broker and mail server."""

    def __init__(self, data_dir: Path, logs: Path):
        self.data_dir = data_dir
        self.logs = logs
        self.web_port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.worker_starts = 0
        #: Exits nobody asked for, by process; each started again, as a
        #: supervisor (systemd's Restart=always) would.
        self.unexpected_exits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping = False

    def command(self, name: str) -> list[str]:
        bin_dir = Path(sys.executable).parent
        from django.conf import settings

        return {
            "web": [str(bin_dir / "gunicorn"), "portal.wsgi", "--bind",
                    f"127.0.0.1:{self.web_port}", "--workers", "2", "--timeout", "120",
                    "--graceful-timeout", "5"],
            "worker": [str(bin_dir / "celery"), "-A", "portal", "worker", "-Q",
                       ",".join(settings.CELERY_QUEUES_CONSUMED), "--concurrency", "2",
                       "--loglevel", "INFO", "-n", f"soak{self.worker_starts}@%h"],
            "beat": [str(bin_dir / "celery"), "-A", "portal", "beat", "--loglevel", "INFO",
                     "--schedule", str(self.logs / "beat-schedule")],
        }[name]

    def start(self, name: str) -> None:
        if name == "worker":
            self.worker_starts += 1
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.processes[name] = subprocess.Popen(
            self.command(name), cwd=BASE_DIR, env=os.environ.copy(), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def kill_and_restart(self, name: str, delay: float) -> None:
        with self.lock:
            self.kill(name)
            time.sleep(delay)  # a supervisor's restart delay
            self.start(name)

    def supervise(self) -> None:
        """Start again, 2 s later, any process that exited on its own."""
        while not self.stopping:
            with self.lock:
                for name, process in list(self.processes.items()):
                    if process.poll() is not None and not self.stopping:
                        self.unexpected_exits[name] = self.unexpected_exits.get(name, 0) + 1
                        say(f"{name} exited (code {process.returncode}); starting it again")
                        time.sleep(2)
                        self.start(name)
            time.sleep(1)

    def stop(self) -> None:
        self.stopping = True
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill(name)


def prepare_database(data_dir: Path, redis_url: str, smtp_port: int, web_port: int):
    """A fresh soak database on the embedded server; the environment the
    stack's processes and this one share. Returns the embedded server."""
    import psycopg
    from psycopg import sql

    server = embedded_db.ensure_running(data_dir)
    with psycopg.connect(dbname="postgres", user="postgres", host=server.socket_dir,
                         autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(DATABASE)))
    embedded_db.ensure_database(server, DATABASE)
    media = data_dir / "soak-media"
    subprocess.run(["rm", "-rf", str(media)], check=True)
    os.environ.update({
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_DATA_DIR": str(data_dir),
        "MEDIA_ROOT": str(media),
        "DATABASE_URL": f"postgresql://postgres@/{DATABASE}?host={server.socket_dir}",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": server.sqlalchemy_url("db+", DATABASE),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "SITE_URL": f"http://127.0.0.1:{web_port}",
        "RATE_LIMITS_ENABLED": "0",
        "AUTO_APPROVE_REQUESTS": "1",
        "FACE_GUARD_DAYS": "0",
        "LIVENESS_POSE_SECONDS": "120",
        "LIVENESS_CHALLENGE_SECONDS": "900",
        "LOG_LEVEL": "WARNING",
    })
    return server


# -- what the database says ---------------------------------------------------------------


def pending_work() -> dict[str, tuple]:
    """Work waiting on the system now, each with a mark that changes when it
    moves on: requests searching or being carried out, e-mails not sent."""
    from subjects.models import OutboundEmail, RequestJob, RightsRequest

    work = {}
    for pk, state, searches in RightsRequest.objects.filter(
            state__in=["searching", "in_progress"]).values_list("pk", "state", "searches_run"):
        steps = sum(len(job.steps_done) + (job.status == RequestJob.Status.DONE)
                    for job in RequestJob.objects.filter(request_id=pk))
        work[f"request {pk}"] = (state, searches, steps)
    for pk in OutboundEmail.objects.exclude(status="sent").values_list("pk", flat=True):
        work[f"e-mail {pk}"] = ("not sent",)
    return work


def has_moved(key: str, mark: tuple) -> bool:
    from subjects.models import OutboundEmail, RequestJob, RightsRequest

    kind, pk = key.split(" ")
    if kind == "e-mail":
        return OutboundEmail.objects.filter(pk=int(pk), status="sent").exists()
    request = RightsRequest.objects.filter(pk=int(pk)).first()
    if request is None or request.state != mark[0] or request.searches_run != mark[1]:
        return True
    steps = sum(len(job.steps_done) + (job.status == RequestJob.Status.DONE)
                for job in RequestJob.objects.filter(request_id=request.pk))
    return steps != mark[2]


def drop_database_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def plant_photos(round_number: int) -> int:
    """Obama's photos, scraped again from a site of their own."""
    from search.ingestion import ingest_image
    from search.models import Photo

    site = f"rescraped-{round_number}.example"
    for name in PLANTED:
        ingest_image((FACES_DIR / name).read_bytes(), file_name=name, site=site,
                     source_url=f"https://{site}/{name}")
    return Photo.objects.filter(site=site).count()


# -- the faults ---------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    at: float  # seconds since the start of the run
    detail: dict = field(default_factory=dict)
    waiting: int = 0  # pieces of work waiting when it struck, or during it
    first_moved_s: float | None = None  # until the first of them moved on
    recovery_s: float | None = None  # until all of them had


class Injector(threading.Thread):
    def __init__(self, run, seed: int):
        super().__init__(daemon=True)
        self.run_ = run
        self.random = random.Random(seed)
        self.faults: list[Fault] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        order: list[str] = []
        try:
            while not self.stop.wait(self.random.uniform(20, 60)):
                if not order:
                    order = self.random.sample(FAULTS, len(FAULTS))
                self.strike(order.pop())
        except Exception:  # noqa: BLE001 - a broken injector is reported, not hidden
            say("the fault injector stopped:\n" + traceback.format_exc())
        finally:
            connection.close()

    def strike(self, kind: str) -> None:
        run = self.run_
        fault = Fault(kind, round(time.monotonic() - run.started, 1))
        started = time.monotonic()
        waiting = db(pending_work)
        if kind == "db_drop":
            fault.detail["connections dropped"] = drop_database_connections()
        elif kind == "sigkill":
            run.stack.kill_and_restart("worker", delay=2)
        elif kind in SMTP_FAULTS:
            window = round(self.random.uniform(10, 30), 1)
            run.inbox.failing = SMTP_FAULTS[kind]
            time.sleep(window)
            waiting.update(db(pending_work))
            run.inbox.failing = ""
            fault.detail["failing for s"] = window
        elif kind == "broker_restart":
            down = round(self.random.uniform(1, 5), 1)
            run.redis.stop()
            time.sleep(down)
            waiting.update(db(pending_work))
            run.redis.start()
            fault.detail["broker down for s"] = down
        if kind in SMTP_FAULTS:  # the mail server holds up e-mail only
            waiting = {key: mark for key, mark in waiting.items() if key.startswith("e-mail")}
        fault.waiting = len(waiting)
        say(f"fault {kind} {fault.detail}; {len(waiting)} piece(s) of work waiting")
        while waiting and not self.stop.is_set():
            left = {key: mark for key, mark in waiting.items() if not db(has_moved, key, mark)}
            if len(left) < len(waiting) and fault.first_moved_s is None:
                fault.first_moved_s = round(time.monotonic() - started, 1)
            waiting = left
            if waiting:
                if time.monotonic() - started > 900:
                    say(f"{kind}: still waiting after 15 min: {list(waiting)[:5]}")
                    break
                time.sleep(0.5)
        if not waiting and fault.waiting:  # (nothing waiting: nothing to recover)
            fault.recovery_s = round(time.monotonic() - started, 1)
        say(f"fault {kind}: work moved again after {fault.first_moved_s} s, all of it after "
            f"{fault.recovery_s} s")
        self.faults.append(fault)


# -- people -----------------------------------------------------------------------------


class StepFailed(Exception):
    pass


@dataclass
class Journey:
    address: str
    kinds: list[str]
    reference: str = ""
    error: str = ""
    filed: bool = False


class Person(threading.Thread):
    """Journeys, one after another, until the run's deadline."""

    def __init__(self, number: int, run):
        super().__init__(daemon=True)
        self.number = number
        self.run_ = run
        self.base = f"http://127.0.0.1:{run.stack.web_port}"
        self.journeys: list[Journey] = []
        self.http_errors = 0

    def run(self) -> None:
        from django.db import connection

        try:
            count = 0
            while time.monotonic() < self.run_.deadline:
                count += 1
                self.journey(count)
        finally:
            connection.close()

    # -- HTTP, as a person retries a page that failed -----------------------------------

    def call(self, session, method: str, path: str, expect=(200,), **kwargs):
        url = path if path.startswith("http") else self.base + path
        for attempt in range(6):
            try:
                response = session.request(method, url, timeout=120, allow_redirects=False,
                                           **kwargs)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code in expect:
                return response
            self.http_errors += 1
            if method == "POST" or attempt == 5:
                status = response.status_code if response is not None else "no answer"
                raise StepFailed(f"{method} {path.split('?')[0]}: {status}")
            time.sleep(2)
        raise AssertionError("unreachable")

    def journey(self, count: int) -> None:
        run = self.run_
        erasing = run.erasure_turn.acquire(blocking=False)
        if erasing:
            run.erasures += 1
            kinds = ["access", "erasure"] if run.erasures % 2 else ["objection"]
            db(plant_photos, run.erasures)
        else:
            kinds = ["access"]
        journey = Journey(f"soak.{run.tag}.{self.number}.{count}@example.org", kinds)
        self.journeys.append(journey)
        session = requests.Session()
        session.headers["Accept-Language"] = "en"
        try:
            self.walk(session, journey)
        except StepFailed as failed:
            journey.error = str(failed)
            say(f"person {self.number}: {journey.reference or journey.address}: {failed}")
        except Exception as error:  # noqa: BLE001 - counted, not a crash
            journey.error = f"{type(error).__name__}: {error}"
            say(f"person {self.number}: {traceback.format_exc()}")
        finally:
            session.close()
            if erasing:
                run.erasure_turn.release()

    def walk(self, session, journey: Journey) -> None:
        """The person's steps; one that fails is taken again, as a person
        reloads a page, unless the database shows it took effect."""
        from subjects.core import tokens
        from subjects.models import RightsRequest

        def state() -> str:
            return db(lambda: RightsRequest.objects.get(reference=journey.reference).state)

        def start() -> None:
            page = self.call(session, "GET", "/start/").text
            self.call(session, "POST", "/start/", expect=(302,), data={
                "csrfmiddlewaretoken": CSRF.search(page).group(1), "email": journey.address,
                "language": "en", "consent": "on"}, headers={"Referer": self.base + "/start/"})

        def started() -> bool:
            return db(lambda: RightsRequest.objects.filter(email=journey.address).exists())

        self.again(start, started)
        link = self.run_.wait_for_link(journey.address)

        def verified() -> RightsRequest | None:
            return db(lambda: RightsRequest.objects.filter(
                email=journey.address, verified_at__isnull=False).first())

        def verify() -> None:
            # The link opens a page; its button confirms the address and
            # binds the request to this browser (the session's cookie).
            page = self.call(session, "GET", link).text
            self.call(session, "POST", link, expect=(302,), data={
                "csrfmiddlewaretoken": CSRF.search(page).group(1)},
                headers={"Referer": link})

        self.again(verify, verified)
        request = verified()
        journey.reference = request.reference
        token_root = f"/r/{tokens.access_token(request)}/"

        def camera_check() -> None:
            # Frames of this try's own: a try that failed has its frames
            # remembered, and the check refuses them ever after.
            shift = self.run_.next_camera_check()
            live = token_root + "live/"
            page = self.call(session, "GET", live).text
            data = {"csrfmiddlewaretoken": CSRF.search(page).group(1),
                    "challenge": CHALLENGE.search(page).group(1)}
            headers = {"Referer": self.base + live}
            answer = self.call(session, "POST", live + "step/", data={**data, "step": "begin"},
                               headers=headers).json()
            while "pose" in answer:
                time.sleep(1.0)  # as long as the page's camera takes
                files = [("frames", (f"frame{n}.jpg", frame, "image/jpeg"))
                         for n, frame in enumerate(burst(answer["pose"], shift))]
                response = self.call(session, "POST", live + "step/", files=files, data={
                    **data, "step": str(answer["step"])}, headers=headers, expect=(202,))
                # The burst is checked on a search worker: ask until it answers.
                asking = response.json()["answer"]
                while response.status_code == 202:
                    time.sleep(0.25)
                    response = self.call(session, "POST", asking, data=data, headers=headers,
                                         expect=(200, 202))
                answer = response.json()

        self.again(camera_check, lambda: state() != "verified")
        self.wait_state(journey, {"matches_ready"}, minutes=15)

        def file() -> None:
            page = self.call(session, "GET", token_root + "matches/").text
            # The faces shown as likely the person's are theirs; a possible
            # one is not (claiming it would wait for the DPO).
            answers = {f"decision_{DECISION.search(m).group(1)}":
                       "mine" if "Likely you" in m else "not_mine"
                       for m in MATCH.findall(page)}
            mine = {key: value for key, value in answers.items() if value == "mine"}
            journey.kinds = journey.kinds if mine else ["access"]
            self.call(session, "POST", token_root + "file/", expect=(302,), data={
                "csrfmiddlewaretoken": CSRF.search(page).group(1), "kinds": journey.kinds,
                "keep_template": "no", "checked": "yes", **answers},
                headers={"Referer": self.base + token_root})

        self.again(file, lambda: state() != "matches_ready")
        journey.filed = True
        self.wait_state(journey, {"completed"}, minutes=30)

    @staticmethod
    def again(step, took_effect, tries: int = 4) -> None:
        for attempt in range(tries):
            try:
                step()
                return
            except StepFailed:
                if took_effect():
                    return
                if attempt == tries - 1:
                    raise
                time.sleep(2)

    def wait_state(self, journey: Journey, states: set[str], minutes: float) -> None:
        from subjects.models import RightsRequest

        deadline = time.monotonic() + minutes * 60
        while True:
            state = db(lambda: RightsRequest.objects.get(reference=journey.reference).state)
            if state in states:
                return
            if state in ("error", "rejected", "withdrawn", "expired", "verified",
                         "identity_review"):
                raise StepFailed(f"the request went to {state}")
            if time.monotonic() > deadline:
                raise StepFailed(f"still {state} after {minutes} min")
            time.sleep(1)


def db(call, *args):
    """A database read of the soak's own, taken again when a fault dropped
    its connection (the soak observes; it must not fail with the portal)."""
    from django.db import InterfaceError, OperationalError, connection

    for _ in range(20):
        try:
            return call(*args)
        except (OperationalError, InterfaceError):
            connection.close()
            time.sleep(0.5)
    return call(*args)


# -- the run ----------------------------------------------------------------------------


class Run:
    def __init__(self, options):
        self.options = options
        self.tag = time.strftime("%H%M%S")
        self.erasure_turn = threading.Lock()
        self.erasures = 0
        self.camera_checks = 0
        self.count_lock = threading.Lock()

    def next_camera_check(self) -> int:
        with self.count_lock:
            self.camera_checks += 1
            return self.camera_checks

    def wait_for_link(self, address: str) -> str:
        deadline = time.monotonic() + 15 * 60
        while time.monotonic() < deadline:
            for message in self.inbox.to(address):
                body = message.get_body(preferencelist=("plain",)).get_content()
                found = VERIFY_LINK.search(body)
                if found:
                    return found.group(0)
            time.sleep(0.5)
        raise StepFailed("no verification e-mail within 15 min")

    def main(self) -> dict:
        options = self.options
        data_dir = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / "var")).resolve()
        logs = data_dir / "soak-logs"
        shutil.rmtree(logs, ignore_errors=True)
        (logs / "redis").mkdir(parents=True)
        self.smtp, self.inbox = start_smtp_server()
        redis_port = free_port()
        self.stack = Stack(data_dir, logs)
        prepare_database(data_dir, f"redis://127.0.0.1:{redis_port}/0", self.smtp.port,
                         self.stack.web_port)
        import django
        from django.core.management import call_command

        django.setup()
        from tests.fleet import RedisServer

        self.redis = RedisServer(logs / "redis", redis_port).start()
        say("migrating and seeding the demo data")
        call_command("migrate", verbosity=0, interactive=False)
        call_command("seed_demo", verbosity=0)
        for name in ("web", "worker", "beat"):
            self.stack.start(name)
        threading.Thread(target=self.stack.supervise, daemon=True).start()
        self.wait_ready()
        self.started = time.monotonic()
        self.deadline = self.started + options.minutes * 60
        injector = Injector(self, options.seed)
        people = [Person(n, self) for n in range(options.people)]
        say(f"{options.people} people for {options.minutes} min, faults every 20-60 s")
        injector.start()
        for person in people:
            person.start()
            time.sleep(0.5)
        for person in people:
            person.join()
        injector.stop.set()
        injector.join()
        say("journeys done; draining")
        drained = self.drain(options.drain_minutes)
        figures = self.figures(people, injector.faults, drained)
        self.stack.stop()
        self.redis.stop()
        self.smtp.stop()
        return figures

    def wait_ready(self) -> None:
        from portal.tasks import ping

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.stack.web_port}/start/",
                                timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        ping.delay().get(timeout=300)

    def drain(self, minutes: float) -> float:
        from django.db import connection

        from subjects.models import OutboundEmail, RightsRequest

        connection.close()  # perhaps dropped by a fault; none strikes now
        started = time.monotonic()
        while time.monotonic() - started < minutes * 60:
            busy = RightsRequest.objects.filter(
                state__in=["searching", "filed", "awaiting_review", "in_progress"]).count()
            unsent = OutboundEmail.objects.exclude(status="sent").count()
            if not busy and not unsent:
                break
            time.sleep(2)
        return round(time.monotonic() - started, 1)

    def figures(self, people: list[Person], faults: list[Fault], drained: float) -> dict:
        from subjects.jobs.delivery import message_id
        from subjects.models import EmailAttempt, OutboundEmail, RightsRequest

        journeys = [j for person in people for j in person.journeys]
        references = [j.reference for j in journeys if j.reference]
        requests_ = RightsRequest.objects.filter(reference__in=references)
        filed = requests_.exclude(received_at__isnull=True)
        completed = filed.filter(state="completed")
        # Expected: every message the portal recorded for the run's requests
        # (the outbox row is written with the event it tells about).
        expected = list(OutboundEmail.objects.filter(reference__in=references))
        copies = {m.pk: self.inbox.copies(message_id(m)) for m in expected}
        lost = [m for m in expected if copies[m.pk] == 0]
        return {
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.node()} ({os.cpu_count()} cores, load average "
                       f"{os.getloadavg()[0]:.1f} at the end)",
            "minutes": self.options.minutes,
            "people": self.options.people,
            "drain_s": drained,
            "journeys": {
                "started": len(journeys),
                "filed": filed.count(),
                "completed": completed.count(),
                "stuck": filed.exclude(state="completed").count(),
                "with_erasure_or_objection": completed.filter(erasure=True).count()
                + completed.filter(objection=True).count(),
                "ended_by_a_person_side_error": sum(1 for j in journeys if j.error),
                "person_side_errors": sorted({j.error for j in journeys if j.error})[:20],
                "http_errors_retried": sum(p.http_errors for p in people),
            },
            "emails": {
                "expected": len(expected),
                "delivered": sum(1 for m in expected if copies[m.pk] >= 1),
                "duplicated": sum(1 for m in expected if copies[m.pk] > 1),
                "extra_copies": sum(max(0, copies[m.pk] - 1) for m in expected),
                "lost": len(lost),
                "lost_kinds": sorted({m.kind for m in lost}),
                "attempts": EmailAttempt.objects.filter(
                    outbound__reference__in=references).count(),
                "attempts_not_sent": EmailAttempt.objects.filter(
                    outbound__reference__in=references).exclude(outcome="sent").count(),
            },
            "unexpected_exits": self.stack.unexpected_exits,
            **recovery_figures([fault.__dict__ for fault in faults]),
        }


def recovery_figures(faults: list[dict]) -> dict:
    """Recovery times by kind of fault, over the faults that found work
    waiting (a fault that struck an idle system has nothing to recover)."""
    first: dict[str, list[float]] = {}
    every: dict[str, list[float]] = {}
    struck = [fault for fault in faults if fault["waiting"]]
    for fault in struck:
        if fault["first_moved_s"] is not None:
            first.setdefault(fault["kind"], []).append(fault["first_moved_s"])
        if fault["recovery_s"] is not None:
            every.setdefault(fault["kind"], []).append(fault["recovery_s"])
    return {
        "faults": faults,
        "first_moved_s": {kind: {"p50": percentile(values, 0.5), "max": max(values)}
                          for kind, values in sorted(first.items())},
        "recovery_s": {kind: {"p50": percentile(values, 0.5), "max": max(values)}
                       for kind, values in sorted(every.items())},
        "not_recovered": sum(1 for fault in struck if fault["recovery_s"] is None),
    }


# -- the soak table of docs/faults.md ------------------------------------------------------


def readme_table(figures: dict) -> str:
    j, e = figures["journeys"], figures["emails"]
    lines = [
        f"Run on {figures['date']} on {figures['machine']}: {figures['minutes']} minutes, "
        f"{figures['people']} people, then {figures['drain_s']:.0f} s to drain.",
        "",
        "| | |",
        "|---|---|",
        f"| journeys started | {j['started']} |",
        f"| requests filed | {j['filed']} |",
        f"| requests completed | {j['completed']} ({j['with_erasure_or_objection']} with "
        f"erasure or objection) |",
        f"| requests stuck | {j['stuck']} |",
        f"| e-mails expected | {e['expected']} |",
        f"| e-mails delivered | {e['delivered']} |",
        f"| e-mails duplicated (same Message-ID) | {e['duplicated']} |",
        f"| e-mails lost | {e['lost']} |",
        f"| delivery attempts (not sent) | {e['attempts']} ({e['attempts_not_sent']}) |",
        f"| journeys ended by an error on the person's side | "
        f"{j['ended_by_a_person_side_error']} |",
        "",
        "| fault | injected (with work waiting) | work waiting (p50) "
        "| work moving again after, p50 / max (s) | all of it moved on after, p50 / max (s) |",
        "|---|---|---|---|---|",
    ]

    def times(table: dict, kind: str) -> str:
        found = table.get(kind)
        return f"{found['p50']} / {found['max']}" if found else "—"

    for kind in FAULTS:
        struck = [fault for fault in figures["faults"] if fault["kind"] == kind]
        if struck:
            waiting = percentile([fault["waiting"] for fault in struck], 0.5)
            busy = sum(1 for fault in struck if fault["waiting"])
            lines.append(f"| {kind} | {len(struck)} ({busy}) | {waiting} | "
                         f"{times(figures['first_moved_s'], kind)} | "
                         f"{times(figures['recovery_s'], kind)} |")
    for name, count in sorted(figures["unexpected_exits"].items()):
        lines.append(f"\nThe {name} process exited on its own {count} time(s) and was "
                     "started again 2 s later, as a supervisor would.")
    if figures["not_recovered"]:
        lines.append(f"\n{figures['not_recovered']} fault(s) not recovered from.")
    return "\n".join(lines)


def write_readme(figures: dict) -> None:
    text = SOAK_PAGE.read_text()
    begin, end = "<!-- soak:begin -->", "<!-- soak:end -->"
    if begin not in text:
        return
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    SOAK_PAGE.write_text(f"{head}{begin}\n{readme_table(figures)}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--drain-minutes", type=float, default=15)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--no-readme", action="store_true",
                        help="leave the soak table of docs/faults.md alone")
    parser.add_argument("--summarise-only", action="store_true",
                        help="no run: the figures and docs/faults.md's table again from the "
                             "faults recorded in bench/results/soak.json")
    options = parser.parse_args(argv)
    if options.summarise_only:
        figures = json.loads(RESULTS.read_text())
        for fault in figures["faults"]:
            if not fault["waiting"]:
                fault["recovery_s"] = None
        figures.update(recovery_figures(figures["faults"]))
        RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
        write_readme(figures)
        print(readme_table(figures))
        return 0
    run = Run(options)
    try:
        figures = run.main()
    finally:
        if hasattr(run, "stack"):
            run.stack.stop()
        if hasattr(run, "redis"):
            run.redis.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(readme_table(figures))
    if not options.no_readme:
        write_readme(figures)
    ok = figures["emails"]["lost"] == 0 and figures["journeys"]["stuck"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
