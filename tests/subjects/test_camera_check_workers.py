"""The camera check runs on the search workers, not in the web process: the
page sends a burst, is answered at once, and asks for the outcome; every
other page keeps answering while a check is being processed.

Against the real web server (gunicorn with one sync worker, so a page that
waited for a face model would hold up every other page) and a real Celery
worker that a test can stop in the middle of a check (``JOB_HOLD_DIR``)."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.files.storage import default_storage

from subjects.core import tokens
from subjects.core.queueing import CHECK_BURST
from subjects.models import LivenessBurst, LivenessChallenge
from subjects.person import camera_check, intake
from tests.mail import free_port
from tests.subjects.capture import passing_bursts
from tests.subjects.helpers import burst_answer, challenge_of, upload, verified_in
from tests.waiting import BURST_SECONDS, let_time_pass, wait_until
from tests.workers import Worker

pytestmark = [pytest.mark.worker]

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(scope="module")
def one_web_worker(django_db_setup, django_db_blocker, celery_worker, tmp_path_factory):
    """gunicorn with a single sync worker, and a Celery worker that stops at
    a point a test names; the session's worker rests meanwhile."""
    folder = tmp_path_factory.mktemp("camera-check")
    holds = folder / "holds"
    holds.mkdir()
    with django_db_blocker.unblock():
        celery_worker.stop()
        worker = Worker(folder / "worker.log", concurrency=1,
                        extra_env={"JOB_HOLD_DIR": str(holds),
                                   "RATE_LIMITS_ENABLED": "0"}).start()
    port = free_port()
    log = folder / "web.log"
    with open(log, "ab") as handle:
        web = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--bind",
             f"127.0.0.1:{port}", "--workers", "1", "--timeout", "120"],
            env={**worker.env(), "ALLOWED_HOSTS": "127.0.0.1", "RATE_LIMITS_ENABLED": "0"},
            stdout=handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(base), timeout=60, what=f"gunicorn to start ({log})")
    yield base, holds
    web.terminate()
    web.wait(20)
    worker.stop()
    with django_db_blocker.unblock():
        celery_worker.start()


def answers(base: str) -> bool:
    try:
        return requests.get(base + "/start/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def confirmed_session(base: str, email: str):
    """A browser that confirmed a new request's address, as a person does."""
    request = intake.start_request(email=email, language="en")
    session = requests.Session()
    verify = f"{base}/verify/{tokens.verification_token(request)}/"
    page = session.get(verify, timeout=30).text
    response = session.post(verify, data={"csrfmiddlewaretoken": CSRF.search(page).group(1)},
                            headers={"Referer": verify}, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.status_code
    return session, request, f"{base}/r/{tokens.access_token(request)}/"


def test_pages_answer_while_a_search_worker_checks_a_burst(transactional_db, one_web_worker):
    base, holds = one_web_worker
    session, request, root = confirmed_session(base, "held.check@example.org")
    page = session.get(root + "live/", timeout=30).text
    form = {"csrfmiddlewaretoken": CSRF.search(page).group(1), "challenge": challenge_of(page)}
    headers = {"Referer": root + "live/"}
    begun = session.post(root + "live/step/", data={**form, "step": "begin"}, headers=headers,
                         timeout=30).json()
    challenge = LivenessChallenge.objects.get(request=request)
    (holds / f"hold:camera:check:{challenge.pk}").write_text("hold")
    let_time_pass(BURST_SECONDS, why="the server refuses a burst sent sooner")
    frames = passing_bursts()[begun["pose"]]
    sent = session.post(root + "live/step/", data={**form, "step": "0"}, headers=headers,
                        files=[("frames", (f"f{n}.jpg", f, "image/jpeg"))
                               for n, f in enumerate(frames)], timeout=30)
    # The burst is taken, not looked at: stored for the worker, answered at once.
    assert sent.status_code == 202, sent.text
    asking = sent.json()["answer"]
    wait_until(lambda: list(holds.glob("held-*")), timeout=60,
               what="the search worker to take the burst")

    # The worker is in the middle of the check. The one web worker answers
    # the pages that run no model, and the burst's answer says "checking".
    other = requests.Session()
    start = other.get(base + "/start/", timeout=10)
    assert start.status_code == 200 and "csrfmiddlewaretoken" in start.text
    status = session.get(root + "status/", timeout=10)
    assert status.status_code == 200 and request.reference in status.text
    waiting = session.post(base + asking, data=form, headers=headers, timeout=10)
    assert waiting.status_code == 202 and waiting.json() == {"checking": True}
    challenge.refresh_from_db()
    assert challenge.checking_step == 0 and len(challenge.checking_files) == len(frames)
    assert all(default_storage.exists(name) for name in challenge.checking_files)
    assert not LivenessBurst.objects.filter(challenge=challenge).exists()
    queued = list(challenge.checking_files)

    # Let the worker go on: the answer is the next pose, and the burst's
    # stored frames are gone.
    for marker in holds.glob("held-*"):
        marker.unlink()
    answer = wait_until(lambda: ok_answer(session, base + asking, form, headers), timeout=90,
                        what="the burst's answer")
    assert answer["step"] == 1 and answer["pose"] == challenge.poses[1]
    assert str(camera_check.POSE_LABELS[answer["pose"]]) == answer["label"]
    assert not any(default_storage.exists(name) for name in queued)
    challenge.refresh_from_db()
    assert challenge.checking_step is None and challenge.revealed == 2
    assert challenge.revealed_at is not None  # the next pose's clock runs from now


def ok_answer(session, url, form, headers):
    response = session.post(url, data=form, headers=headers, timeout=10)
    return response.json() if response.status_code == 200 else None


def test_a_check_whose_task_was_lost_is_queued_again_by_the_sweep(transactional_db,
                                                                   celery_worker, client):
    """The broker lost the task (the queue purged while no worker ran): the
    burst waits with its files until beat's sweep queues it again. Broken by
    hand (the purge left out, so the task is not lost): "the lost check
    reached the worker after all"; the fixed 3 s sleep this replaces let
    that pass whenever the worker had not finished the check in 3 s."""
    from portal.celery import app
    from portal.tasks import ping

    request = verified_in(client, "lost.check@example.org")
    token = tokens.access_token(request)
    bursts = passing_bursts()
    # The worker stops before the pose is revealed: stopping it can take
    # longer than a pose may, on a busy machine ("too_late").
    celery_worker.stop()
    since = celery_worker.log_size()
    try:
        challenge = challenge_of(client.get(f"/r/{token}/live/").content.decode())
        begun = client.post(f"/r/{token}/live/step/", {"challenge": challenge, "step": "begin"})
        frames = bursts[begun.json()["pose"]]
        let_time_pass(BURST_SECONDS, why="the server refuses a burst sent sooner")
        sent = client.post(f"/r/{token}/live/step/", {
            "challenge": challenge, "step": "0",
            "frames": [upload(f"f{n}.jpg", f) for n, f in enumerate(frames)]})
        assert sent.status_code == 202, sent.content
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("search")
    finally:
        celery_worker.start()
    # The worker is back, and has taken whatever the search queue held before
    # a ping sent there after it: the burst's check was not among it.
    ping.apply_async(queue="search").get(timeout=90)
    log = celery_worker.log_path.read_bytes()[since:].decode(errors="replace")
    assert f"Task {CHECK_BURST}[" not in log, "the lost check reached the worker after all"
    waiting = LivenessChallenge.objects.get(request=request)
    assert waiting.checking_step == 0, "nothing checks a burst whose task was lost"
    assert all(default_storage.exists(name) for name in waiting.checking_files)

    assert camera_check.resume_stalled_checks(grace=dt.timedelta(0)) == 1
    answer = burst_answer(client, challenge, sent)
    assert answer.status_code == 200 and answer.json()["step"] == 1
    assert not any(default_storage.exists(name) for name in waiting.checking_files)
