"""Exactly once: a worker killed with SIGKILL at any step of an erasure, and
started again, ends in the same state as an uninterrupted run, with nothing
deleted twice and no e-mail sent twice."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from subjects.jobs.delivery import resend_stalled_emails
from subjects.jobs.runner import resume_stalled_jobs
from subjects.models import RequestJob
from subjects.review import decisions
from tests.subjects.helpers import wait_for_state
from tests.subjects.scenario import file_via_worker, seed_world
from tests.subjects.test_execution import assert_erased_exactly_once
from tests.waiting import wait_until
from tests.workers import Worker

pytestmark = [pytest.mark.worker]

STEPS = ["erasure:plan", "erasure:photo", "erasure:suppress", "erasure:verify",
         "erasure:notices", "erasure:done"]


def wait_until_paused(step: str, worker: Worker, timeout: float = 90) -> None:
    def paused() -> bool:
        for marker in settings.DATA_DIR.glob("job-paused-*"):
            if marker.read_text() == step:
                marker.unlink()
                return True
        return False

    wait_until(paused, timeout=timeout,
               what=lambda: f"the worker reaching {step}:\n{worker.log_tail()}")


@pytest.fixture
def swap_worker(celery_worker, smtp_server, tmp_path):
    """Stop the session's worker, run one that pauses at a step (to be
    killed), and restart the session's worker afterwards."""
    started = []

    def start_pausing(step: str) -> Worker:
        celery_worker.stop()
        for marker in settings.DATA_DIR.glob("job-paused-*"):
            marker.unlink()  # left by an earlier, interrupted run
        worker = Worker(tmp_path / "paused.log", concurrency=1, extra_env={
            "JOB_PAUSE_AT": step, "JOB_LEASE_SECONDS": "2",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": smtp_server.hostname, "EMAIL_PORT": str(smtp_server.port),
        })
        started.append(worker.start(wait=False))
        return worker

    yield start_pausing
    for worker in started:
        worker.kill()
    if celery_worker.process.poll() is not None:
        celery_worker.start()


def test_an_uninterrupted_erasure_ends_in_the_expected_state(transactional_db, celery_worker,
                                                            inbox):
    address = "calm.run@example.org"
    world = seed_world("-calm")
    request = file_via_worker(address, kinds=["erasure"], keep_template="yes")
    decisions.approve_request(request, actor="dpo.test")
    wait_for_state(request, "completed")
    assert_erased_exactly_once(world, request, inbox, address)


@pytest.mark.parametrize("step", STEPS)
def test_a_worker_killed_at_each_erasure_step_ends_like_an_uninterrupted_run(
    step, transactional_db, celery_worker, swap_worker, inbox
):
    tag = "-" + step.replace(":", "-")
    address = f"killed{tag}@example.org"
    world = seed_world(tag)
    request = file_via_worker(address, kinds=["erasure"], keep_template="yes")

    doomed = swap_worker(step)
    decisions.approve_request(request, actor="dpo.test")
    wait_until_paused(step, doomed)
    doomed.kill()  # SIGKILL to the worker and its pool, mid-job
    # While the killed worker's lease holds, the sweep leaves its job alone.
    # The lease (2 s) may have run out while the test killed the worker on a
    # busy machine: it is set to run a few seconds more, as a longer one
    # would, so that this is tried every time.
    held = RequestJob.objects.filter(request=request, status=RequestJob.Status.RUNNING).update(
        lease_until=timezone.now() + timedelta(seconds=5))
    assert held == (0 if step == "erasure:done" else 1)  # done: nothing held
    if held:
        assert resume_stalled_jobs(grace=timedelta(seconds=1)) == 0, \
            "the sweep took a job whose worker's lease still held"

    # Another worker starts; the sweeps that beat runs every minute bring
    # back what the killed worker held, once its lease has run out: the
    # sweep is asked until it finds the request (no fixed wait).
    celery_worker.start()
    resumed = wait_until(lambda: resume_stalled_jobs(grace=timedelta(seconds=1)), timeout=60,
                         what="the sweep finding the killed worker's request")
    assert resumed == 1
    resend_stalled_emails(grace=timedelta(0))
    wait_for_state(request, "completed")
    assert_erased_exactly_once(world, request, inbox, address)
    job = request.jobs.get()
    # Killed while running, the job was taken over once; killed after it was
    # done, only the request's completion was left to do.
    assert job.attempts == (1 if step == "erasure:done" else 2)
