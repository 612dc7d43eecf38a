import pytest
from django.conf import settings

from portal import embedded_db
from tests.workers import Worker


def pytest_sessionfinish(session, exitstatus):
    # The suite stops the embedded server only if it was the one to start it,
    # so a running `make demo` keeps its database.
    server = settings.EMBEDDED_DATABASE
    if server is not None and server.started_here:
        embedded_db.stop(settings.DATA_DIR)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
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
        worker = Worker(tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield worker
    worker.stop()
