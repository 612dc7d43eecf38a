import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from portal import embedded_db, samples
from tests.workers import Worker

# The labelled photos of real people that the tests read: never in the
# repository, named by FACE_SAMPLES_DIR (default ../shared/faces). When the
# folder is missing, pytest_configure stops the run before anything reads it.
FACES_DIR = settings.FACE_SAMPLES_DIR or samples.DEFAULT_DIR


def pytest_configure(config):
    # One sentence and a non-zero exit, not a traceback per test module.
    sentence = samples.problem(settings.FACE_SAMPLES_DIR)
    if sentence:
        pytest.exit(sentence, returncode=2)


#: A test run leaves the working tree as it found it: whatever the suite
#: writes (screenshots, media, the database, compiled messages) goes to
#: ignored folders. What ``git status`` shows at the start, to compare.
GIT_STATUS_BEFORE = pytest.StashKey[list[str] | None]()


def git_status() -> list[str] | None:
    """``git status`` of the checkout, one line per path, untracked files
    listed one by one; None where the tests run outside a git checkout."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                              cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.splitlines() if done.returncode == 0 else None


def pytest_sessionstart(session):
    # Files of an earlier run's photos would only confuse this one.
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    Path(settings.ERASURE_JOURNAL).unlink(missing_ok=True)
    session.config.stash[GIT_STATUS_BEFORE] = git_status()


def pytest_sessionfinish(session, exitstatus):
    before, after = session.config.stash.get(GIT_STATUS_BEFORE, None), git_status()
    if before is not None and after is not None:
        new = sorted(set(after) - set(before))
        if new:
            session.config.get_terminal_writer().line(
                "\nThe test run left the working tree changed (git status gained: "
                + ", ".join(new) + "); the tests must write only to ignored folders.", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    # The suite stops the embedded server only if it was the one to start it,
    # so a running `make demo` keeps its database.
    server = settings.EMBEDDED_DATABASE
    if server is not None and server.started_here:
        embedded_db.stop(settings.DATA_DIR)


@pytest.fixture(autouse=True)
def english_to_begin_with():
    """A request in another language leaves it active in the test's thread
    (LocaleMiddleware activates, nothing deactivates): start each test in
    the default language."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fresh_rate_counters(settings):
    """Counters in the database go with each test's transaction; counters in
    Redis (CI's second run) must be cleared by hand."""
    if settings.RATE_LIMIT_STORE == "cache":
        from django.core.cache import caches

        caches["default"].clear()


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server on localhost; ``.inbox`` holds what it received."""
    from tests.mail import start_smtp_server

    controller, inbox = start_smtp_server()
    controller.inbox = inbox
    yield controller
    controller.stop()


@pytest.fixture
def inbox(smtp_server):
    return smtp_server.inbox


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory, smtp_server):
    """A real Celery worker process on the test database and the test broker.

    Tests using it must use the ``transactional_db`` fixture, since the worker
    only sees committed rows."""
    from portal.celery import app

    with django_db_blocker.unblock():
        # Leftovers of an earlier, interrupted run must not reach this worker.
        with app.connection_for_write() as conn:
            for queue in settings.CELERY_QUEUES_CONSUMED:
                try:
                    conn.default_channel.queue_purge(queue)
                except Exception:  # noqa: BLE001 - a queue not declared yet is empty
                    pass
        worker = Worker(
            tmp_path_factory.mktemp("worker") / "worker.log",
            extra_env={
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": smtp_server.hostname,
                "EMAIL_PORT": str(smtp_server.port),
                # Transient failures retried fast, so a test sees the last retry.
                "JOB_MAX_RETRIES": "2",
                "JOB_RETRY_BASE_SECONDS": "0",
                "EMAIL_RETRY_BASE_SECONDS": "1",
            },
        ).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def labelled_index(django_db_setup, django_db_blocker):
    """Every photo of the labelled test set ingested once per module with dlib
    (detection is the slow part). Committed, so the module's tests see it
    inside their transactions, and removed when the module is done, so no
    other test finds these faces."""
    from search.ingestion import ingest_path
    from search.models import Photo

    with django_db_blocker.unblock():
        report = ingest_path(FACES_DIR, site="labelled.example", model="dlib")
        assert report.faces == 32, report.as_dict()
    yield report
    with django_db_blocker.unblock():
        for photo in Photo.objects.filter(site="labelled.example"):
            photo.image.delete(save=False)
            photo.delete()
