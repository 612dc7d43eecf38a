"""/metrics: the portal's figures for Prometheus, to the same callers as
the health detail (a bearer token or a signed-in DPO), a plain 404 to
everyone else; after a journey through the real worker, the figures are
what that journey did."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from portal.durations import observe
from portal.health import send_heartbeats
from portal.models import WorkerHeartbeat
from subjects.core import tokens
from subjects.models import OutboundEmail, RequestJob
from subjects.person import filing
from subjects.review import decisions
from tests.subjects import capture
from tests.subjects.dpo_helpers import make_dpo
from tests.subjects.helpers import live_capture, verified_in, wait_for_state
from tests.waiting import wait_until

TOKEN = "metrics-token-for-the-tests-" + "m" * 20
DEPLOY = Path(django_settings.BASE_DIR) / "deploy"
RULES = DEPLOY / "prometheus" / "face-rights-portal.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "face-rights-portal.json"


def scrape(client: Client | None = None, token: str | None = TOKEN):
    client = client or (Client(HTTP_AUTHORIZATION=f"Bearer {token}") if token else Client())
    return client.get("/metrics")


def samples(response) -> dict[tuple[str, tuple], float]:
    """Every sample of the scrape: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def wait_for(condition, what: str, timeout: float = 120):
    return wait_until(condition, timeout=timeout, interval=0.3, what=what)


@pytest.mark.django_db
def test_metrics_is_a_plain_404_without_credentials_and_401_for_a_wrong_token(client,
                                                                              settings):
    settings.HEALTH_TOKEN = TOKEN
    assert scrape(client, token=None).status_code == 404
    assert Client(HTTP_AUTHORIZATION=TOKEN).get("/metrics").status_code == 404
    guessed = scrape(token="a-guessed-token")
    assert guessed.status_code == 401 and "portal_requests" not in guessed.content.decode()
    settings.HEALTH_TOKEN = None
    assert scrape().status_code == 401
    # A person with a request of their own is no operator either.
    person = Client()
    verified_in(person, "curious.person@example.org")
    assert scrape(person).status_code == 404


@pytest.mark.django_db
def test_metrics_answers_the_token_and_a_signed_in_dpo(client, settings):
    settings.HEALTH_TOKEN = TOKEN
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert samples(response)[("portal_requests_overdue", ())] == 0
    settings.HEALTH_TOKEN = None
    settings.REQUIRE_DPO_2FA = False
    client.force_login(make_dpo()[0])
    assert scrape(client).status_code == 200


@pytest.mark.worker
def test_a_scrape_after_a_journey_shows_what_the_journey_did(transactional_db, celery_worker,
                                                             client, settings):
    settings.HEALTH_TOKEN = TOKEN
    # One person passes the camera check (checked by the worker), is
    # searched, files an access request that the DPO approves and the
    # worker carries out.
    request = verified_in(client, "metrics.person@example.org")
    passed = live_capture(client, tokens.access_token(request))
    assert passed.status_code == 200 and passed.json().get("done"), passed.content[:300]
    request = wait_for_state(request, "matches_ready")
    request = filing.file_request(request, kinds=["access"], keep_template=False,
                                  decisions={})
    decisions.approve_request(request, actor="dpo.test")
    wait_for_state(request, "completed", timeout=180)
    # Another sends one photo again and again: refused for a repeated frame.
    other = Client()
    refused = verified_in(other, "metrics.still@example.org")
    response = live_capture(other, tokens.access_token(refused), {
        pose: capture.still_repeated("obama_1.jpg") for pose in ("straight", "left", "right")})
    assert response.json()["code"] == "repeated_frame"
    # Every queue's worker beats; every e-mail goes out.
    WorkerHeartbeat.objects.all().delete()
    send_heartbeats()
    wait_for(lambda: WorkerHeartbeat.objects.count() == len(settings.CELERY_QUEUES_CONSUMED),
             "a heartbeat from every queue")
    wait_for(lambda: not OutboundEmail.objects.exclude(status="sent").exists(),
             "the outbox to empty")

    response = scrape()
    assert response.status_code == 200
    found = samples(response)
    assert found[("portal_requests", (("state", "completed"),))] == 1
    assert found[("portal_requests", (("state", "verified"),))] == 1
    assert found[("portal_requests_overdue", ())] == 0
    assert found[("portal_camera_checks_total", (("outcome", "passed"), ("reason", "")))] == 1
    assert found[("portal_camera_checks_total",
                  (("outcome", "failed"), ("reason", "repeated_frame")))] == 1
    assert found[("portal_selfie_search_seconds_count", ())] == 1
    assert found[("portal_selfie_search_seconds_sum", ())] > 0
    assert found[("portal_selfie_search_seconds_bucket", (("le", "+Inf"),))] == 1
    jobs = RequestJob.objects.filter(request=request, status="done")
    assert {job.kind for job in jobs} == {"access"}
    assert found[("portal_request_job_seconds_count", (("kind", "access"),))] == 1
    job = jobs.get()
    assert found[("portal_request_job_seconds_sum", (("kind", "access"),))] == pytest.approx(
        (job.finished_at - job.created_at).total_seconds(), abs=0.01)
    sent = OutboundEmail.objects.filter(status="sent").count()
    assert sent >= 3  # verification, matches ready, received, ...
    assert found[("portal_emails", (("status", "sent"),))] == sent
    assert found[("portal_emails", (("status", "pending"),))] == 0
    assert found[("portal_email_oldest_unsent_seconds", ())] == 0
    assert found[("portal_email_lease_seconds", ())] == settings.EMAIL_LEASE_SECONDS
    assert found[("portal_broker_up", ())] == 1
    for queue in settings.CELERY_QUEUES_CONSUMED:
        assert found[("portal_worker_up", (("queue", queue),))] == 1
        assert found[("portal_worker_heartbeat_age_seconds", (("queue", queue),))] < 60
        assert ("portal_queue_waiting_tasks", (("queue", queue),)) in found


def test_durations_add_up_in_their_buckets_count_and_sum(transactional_db, settings):
    settings.HEALTH_TOKEN = TOKEN
    for seconds in (3.0, 20.0, 5000.0):
        observe("request_job", "erasure", seconds)
    found = samples(scrape())
    series = "portal_request_job_seconds"
    kind = ("kind", "erasure")
    assert found[(f"{series}_bucket", tuple(sorted([kind, ("le", "1.0")])))] == 0
    assert found[(f"{series}_bucket", tuple(sorted([kind, ("le", "5.0")])))] == 1
    assert found[(f"{series}_bucket", tuple(sorted([kind, ("le", "30.0")])))] == 2
    assert found[(f"{series}_bucket", tuple(sorted([kind, ("le", "3600.0")])))] == 2
    assert found[(f"{series}_bucket", tuple(sorted([kind, ("le", "+Inf")])))] == 3
    assert found[(f"{series}_count", (kind,))] == 3
    assert found[(f"{series}_sum", (kind,))] == 5023.0


@pytest.mark.django_db
def test_the_alert_rules_and_the_dashboard_name_only_series_the_portal_serves(settings):
    settings.HEALTH_TOKEN = TOKEN
    served = {family.name for family in
              text_string_to_metric_families(scrape().content.decode())}
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"]
                   for target in panel["targets"]]
    named = set(re.findall(r"portal_[a-z_]+", RULES.read_text() + "\n".join(expressions)))
    assert named, "no series named"
    unknown = {name for name in named
               if re.sub(r"_(bucket|count|sum|total)$", "", name) not in served}
    assert unknown == set()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules_and_their_tests_pass():
    for command in (["check", "rules", str(RULES)],
                    ["test", "rules", str(RULES.with_name("face-rights-portal.rules.test.yml"))]):
        done = subprocess.run(["promtool", *command], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
