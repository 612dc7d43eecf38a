"""Health: the public /healthz says ok or not and nothing else; the detail,
for a token holder or the DPO, says why, with workers judged by the
heartbeats they ran, not by the broker being reachable."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from portal.health import send_heartbeats
from portal.models import WorkerHeartbeat
from tests.subjects.dpo_helpers import make_dpo
from tests.waiting import wait_until
from tests.workers import Worker

TOKEN = "health-token-for-the-tests-" + "h" * 20


def all_queues_beat(settings, *, loaded=True, model="dlib"):
    for queue in settings.CELERY_QUEUES_CONSUMED:
        WorkerHeartbeat.objects.update_or_create(queue=queue, defaults={
            "worker": "celery@test", "ran_at": timezone.now(), "waited_seconds": 0.01,
            "face_model": model, "face_model_loaded": loaded,
            "face_model_problem": "" if loaded else "BackendUnavailable"})


def detail(token=TOKEN):
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/healthz/detail")


@pytest.fixture
def health_token(settings):
    settings.HEALTH_TOKEN = TOKEN


@pytest.mark.django_db
def test_the_public_healthz_says_ok_when_every_queue_has_a_live_worker(client, settings):
    all_queues_beat(settings)
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_the_public_healthz_reveals_no_versions_and_no_error_text(client, settings, tmp_path):
    # A broken face model (its folder is missing) and no worker at all.
    settings.FACE_BACKEND = "insightface"
    settings.INSIGHTFACE_MODEL_DIR = tmp_path / "missing"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    body = response.content.decode()
    for revealing in ("version", "postgres", "pgvector", "dlib", "insightface", "missing",
                      "error", "problem", "threshold", "Backend", "celery"):
        assert revealing.lower() not in body.lower(), revealing


@pytest.mark.django_db
def test_the_detail_is_a_plain_404_without_credentials_and_401_for_a_wrong_token(
        client, settings, health_token):
    all_queues_beat(settings)
    assert client.get("/healthz/detail").status_code == 404
    assert Client(HTTP_AUTHORIZATION=TOKEN).get("/healthz/detail").status_code == 404
    guessed = detail("a-guessed-token")
    assert guessed.status_code == 401
    assert guessed["WWW-Authenticate"] == 'Bearer realm="healthz"'
    assert "versions" not in guessed.content.decode()
    # Not ASCII: the same 401, not a 500 from comparing the strings.
    assert detail("jeton-privé-ü€").status_code == 401
    settings.HEALTH_TOKEN = None
    assert detail().status_code == 401


@pytest.mark.django_db
def test_the_detail_gives_versions_database_queues_workers_and_face_model(settings,
                                                                          health_token):
    all_queues_beat(settings)
    response = detail()
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["versions"]["Django"].startswith("5.2")
    assert body["versions"]["postgresql"].startswith("18")
    assert body["versions"]["pgvector"].startswith("0.8")
    assert body["database"]["ok"] is True
    assert set(body["broker"]["queues"]) == set(settings.CELERY_QUEUES_CONSUMED)
    assert all(q["ok"] for q in body["workers"]["queues"].values())
    model = body["face_model"]
    assert model["name"] == "dlib" and model["dimension"] == 128
    assert model["loaded_by_worker"]["loaded"] is True
    assert model["thresholds_from"].endswith("search/calibration/dlib.json")


@pytest.mark.django_db
def test_the_detail_says_so_when_the_workers_could_not_load_the_face_model(settings,
                                                                          health_token):
    all_queues_beat(settings, loaded=False)
    body = detail().json()
    assert body["status"] == "down"
    assert body["face_model"]["ok"] is False
    assert body["face_model"]["loaded_by_worker"]["problem"] == "BackendUnavailable"


@pytest.mark.django_db
def test_a_dpo_signed_in_sees_the_detail(client, settings):
    """With every queue beating, the one answer is 200 "ok". Broken by hand
    (``_may_see_health_detail`` refusing the DPO): "assert 404 == 200"."""
    settings.HEALTH_TOKEN = None
    settings.REQUIRE_DPO_2FA = False
    all_queues_beat(settings)
    client.force_login(make_dpo()[0])
    assert 'href="/healthz/detail"' in client.get("/dpo/").content.decode()
    response = client.get("/healthz/detail")
    assert response.status_code == 200, response.status_code
    body = response.json()
    assert body["status"] == "ok", body
    assert body["versions"]["Django"].startswith("5.2")
    assert body["database"]["ok"] is True
    assert all(q["ok"] for q in body["workers"]["queues"].values())
    # Anyone else, signed out, gets the plain 404.
    assert Client().get("/healthz/detail").status_code == 404


def wait_for(condition, timeout: float, what: str):
    return wait_until(condition, timeout=timeout, what=what, interval=0.5)


@pytest.mark.worker
def test_the_detail_reports_a_stopped_worker_as_down(transactional_db, settings, health_token,
                                                     tmp_path):
    # A queue of this test's own, so that no other worker of the test session
    # serves it; heartbeats every second, a queue down after three.
    settings.CELERY_QUEUES_CONSUMED = ["health-test"]
    settings.WORKER_HEARTBEAT_SECONDS = 1
    worker = Worker(tmp_path / "worker.log", queues=["health-test"], concurrency=1).start(
        wait=False)
    try:
        def served():
            send_heartbeats()
            body = detail().json()
            return body if body["workers"]["queues"]["health-test"]["ok"] else None

        body = wait_for(served, 90, f"the worker's heartbeat:\n{worker.log_tail()}")
        queue = body["workers"]["queues"]["health-test"]
        assert queue["worker"].startswith("test-")
        # Stamped when sent, so the worker knows how long it waited.
        assert 0 <= queue["heartbeat_waited_seconds"] < 60
        assert body["face_model"]["loaded_by_worker"]["loaded"] is True, worker.log_tail()
        assert body["status"] == "ok"
    finally:
        worker.stop()

    send_heartbeats()  # nobody takes it now
    def down():
        body = detail().json()
        waited = body["broker"]["queues"]["health-test"]["oldest_waiting_seconds"] or 0
        return body if body["status"] == "down" and waited >= 3 else None

    body = wait_for(down, 30, "the queue to be reported down")
    queue = body["workers"]["queues"]["health-test"]
    assert queue["ok"] is False
    # Down after three missed heartbeats of a second each: three seconds or more.
    assert queue["last_heartbeat_seconds_ago"] >= 3
    waiting = body["broker"]["queues"]["health-test"]
    assert body["broker"]["ok"] is True  # the broker answers; the worker is what is down
    assert waiting["waiting"] >= 1
    assert waiting["oldest_waiting_seconds"] >= 3
    assert Client().get("/healthz").status_code == 503
    assert json.loads(Client().get("/healthz").content) == {"status": "unavailable"}


def test_the_public_healthz_answers_503_not_500_when_the_database_is_gone():
    # A portal process whose database and broker do not answer at all.
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", DEBUG="0",
               SECRET_KEY="health-test-" + "k" * 40, ALLOWED_HOSTS="testserver",
               SECURE_SSL_REDIRECT="0", DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
               CELERY_BROKER_URL="redis://127.0.0.1:9/0", CACHE_URL="")
    code = ("import django; django.setup(); from django.test import Client; "
            "r = Client().get('/healthz'); print(r.status_code, r.content.decode())")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, cwd=settings.BASE_DIR, timeout=120)
    assert result.stdout.strip() == '503 {"status": "unavailable"}', result.stderr[-2000:]
