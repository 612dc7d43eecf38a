"""The smaller holes, each tried: an expired DPO key, a token in a logged
path (a 500 included), two submits at once, stored files other users of
the machine could read, camera challenges left unused."""

import datetime as dt
import io
import logging
import stat
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from subjects.core import faces, tokens
from subjects.dpo.models import ApiKey
from subjects.jobs.retention import run_purges
from subjects.models import FrameFingerprint, LivenessBurst, LivenessChallenge, RightsRequest
from subjects.person import camera_check, intake
from subjects.person.camera_check.frames import FRAME_DIR
from subjects.person.selfie import submit_selfie
from tests.conftest import FACES_DIR
from tests.subjects.dpo_helpers import dpo_key, log_in_verified, make_dpo
from tests.subjects.helpers import confirm_in, upload, verified_in
from tests.waiting import wait_until


@pytest.mark.django_db
def test_an_expired_dpo_api_key_is_refused(client):
    dora, _ = make_dpo()
    key = dpo_key(dora)
    row = ApiKey.objects.get(user=dora)
    assert row.expires_at is not None
    days = (row.expires_at - row.created_at).days
    assert days == settings.DPO_API_KEY_DAYS
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/requests").status_code == 200
    # The key's days are over.
    ApiKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = api.get("/api/v1/requests")
    assert response.status_code == 401
    assert "This API key is not valid or was revoked." in response.json()["detail"]
    # The DPO sees it listed as expired, and can revoke keys.
    page = log_in_verified(client, dora).get("/dpo/keys/").content.decode()
    assert row.prefix in page and "expired" in page


@pytest.mark.django_db
def test_a_revoked_dpo_api_key_is_refused(client):
    dora, _ = make_dpo()
    key = dpo_key(dora)
    row = ApiKey.objects.get(user=dora)
    log_in_verified(client, dora).post(f"/dpo/keys/{row.pk}/revoke/")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/requests").status_code == 401


@pytest.fixture
def portal_log():
    """What the portal's own log handler writes (its formatter included)."""
    handler = next(h for h in logging.getLogger().handlers
                   if type(h.formatter).__name__ == "RedactingFormatter")
    stream = io.StringIO()
    old = handler.setStream(stream)
    yield stream
    handler.setStream(old)


@pytest.mark.django_db
def test_no_token_reaches_the_log_even_on_a_500(client, portal_log, monkeypatch):
    request = verified_in(client, "logged.person@example.org")
    token = tokens.access_token(request)
    RightsRequest.objects.filter(pk=request.pk).update(state="matches_ready")

    def broken(_request):
        raise RuntimeError("the matches could not be read")

    monkeypatch.setattr(faces, "matches_by_photo", broken)
    client.raise_request_exception = False
    assert client.get(f"/r/{token}/matches/").status_code == 500
    # A 404 on a forged link is logged by its path too.
    verification = tokens.verification_token(request)
    logging.getLogger("django.request").error("Not Found: /verify/%s/", verification)
    written = portal_log.getvalue()
    assert "Internal Server Error" in written and "RuntimeError" in written
    assert f"/r/{request.reference}.[token]/matches/" in written
    assert token.split(".", 1)[1] not in written
    assert verification not in written and "/verify/[token]/" in written
    assert request.email not in written


def hold_row(request: RightsRequest, held: threading.Event, release: threading.Event,
             locker: list[int]) -> None:
    """Lock the request's row, as a slow first submit would, until told;
    ``locker`` receives the locking connection's backend pid."""
    with transaction.atomic():
        RightsRequest.objects.select_for_update().get(pk=request.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            locker.append(cursor.fetchone()[0])
        held.set()
        release.wait(60)
    connection.close()


def waiting_behind(pid: int) -> int:
    """How many connections wait, in PostgreSQL, for a lock that ``pid``
    holds, directly or behind another waiter (the second of two waiting for
    one row waits for the first's tuple lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE behind(pid) AS ("
            " SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
            " UNION SELECT a.pid FROM pg_stat_activity a JOIN behind b"
            " ON b.pid = ANY(pg_blocking_pids(a.pid)))"
            " SELECT count(*) FROM behind", [pid])
        return cursor.fetchone()[0]


def race(request: RightsRequest, *calls) -> list:
    """Start the calls in threads while the request's row is locked, wait
    until PostgreSQL shows every one of them waiting for that lock (so they
    really overlap, however slow the machine), then unlock it: they race for
    it as two clicks do. Returns their answers."""
    held, release, locker = threading.Event(), threading.Event(), []
    holder = threading.Thread(target=hold_row, args=(request, held, release, locker))
    holder.start()
    assert held.wait(60), "the row was never locked"
    results = [None] * len(calls)

    def run(n, call):
        try:
            results[n] = call()
        except Exception as error:  # noqa: BLE001 - reported below, with a sentence
            results[n] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: waiting_behind(locker[0]) == len(calls), timeout=120,
                   what=f"all {len(calls)} submits waiting for the request's row together")
    finally:
        release.set()
        for thread in (holder, *threads):
            thread.join(60)
    failed = [r for r in results if isinstance(r, Exception)]
    assert not failed, f"a submit raised instead of answering: {failed!r}"
    return results


@pytest.mark.django_db(transaction=True)
def test_a_double_clicked_verification_link_answers_with_a_sentence():
    request = intake.start_request(email="double.click@example.org", language="en")
    token = tokens.verification_token(request)
    # Both clicks get past their first check and wait for the row.
    results = race(request, lambda: Client().post(f"/verify/{token}/"),
                   lambda: Client().post(f"/verify/{token}/"))
    codes = sorted(r.status_code for r in results)
    assert codes == [302, 410], codes
    refused = next(r for r in results if r.status_code == 410)
    assert "This link has already been used" in refused.content.decode()
    request.refresh_from_db()
    assert request.state == "verified" and len(request.bound_browsers) == 1


@pytest.mark.worker
def test_two_selfies_submitted_at_once_answer_with_a_sentence(transactional_db, celery_worker):
    first, second = Client(), Client()
    request = verified_in(first, "two.tabs@example.org")
    intake.send_new_link(request)
    request.refresh_from_db()
    confirm_in(second, request)  # the same person, in a second browser
    token = tokens.access_token(request)
    # Both uploads are checked and wait for the row.
    results = race(
        request,
        lambda: first.post(f"/r/{token}/selfie/", {"photo": upload("obama_2.jpg")}),
        lambda: second.post(f"/r/{token}/selfie/", {"photo": upload("obama_1.jpg")}),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [302, 409], codes
    refused = next(r for r in results if r.status_code == 409)
    assert "We have already received a selfie for this request" in refused.content.decode()
    request.refresh_from_db()
    assert request.events.filter(action="selfie_submitted").count() == 1


@pytest.mark.django_db
def test_stored_selfies_and_frames_are_for_the_portals_user_only(client):
    request = verified_in(client, "private.files@example.org")
    before = set(default_storage.listdir("selfies")[1]) if default_storage.exists("selfies") \
        else set()
    submit_selfie(request, (FACES_DIR / "obama_2.jpg").read_bytes(), live=False)
    [name] = set(default_storage.listdir("selfies")[1]) - before
    path = Path(settings.MEDIA_ROOT) / "selfies" / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    kept = default_storage.save(f"{FRAME_DIR}/test.img", io.BytesIO(b"frame"))
    assert stat.S_IMODE(Path(default_storage.path(kept)).stat().st_mode) == 0o600
    default_storage.delete(kept)
    default_storage.delete(f"selfies/{name}")


@pytest.mark.django_db
def test_unused_camera_challenges_are_purged_with_their_frames(client):
    request = verified_in(client, "abandoned@example.org")
    stale, _ = camera_check.issue_challenge(request)
    fresh, _ = camera_check.issue_challenge(request)
    name = default_storage.save(f"{FRAME_DIR}/left.img", io.BytesIO(b"frame"))
    LivenessBurst.objects.create(challenge=stale, step=0, pose="left",
                                 revealed_at=timezone.now(), received_at=timezone.now(),
                                 frame_file=name)
    FrameFingerprint.objects.create(challenge=stale, step=0, sha256="0" * 64, dhash="0" * 256,
                                    created_at=timezone.now() - dt.timedelta(days=400))
    LivenessChallenge.objects.filter(pk=stale.pk).update(
        issued_at=timezone.now() - dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS + 5))
    assert run_purges()["camera_checks_purged"] == 1
    assert list(LivenessChallenge.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not default_storage.exists(name)
    assert not FrameFingerprint.objects.exists()


@pytest.mark.django_db
def test_a_burst_still_waiting_for_its_check_goes_with_its_challenge(client):
    """Frames stored for a search worker are kept while the workers are
    busy, and deleted with their challenge once they waited longer than
    ``LIVENESS_CHECK_WAIT_SECONDS`` (the task lost, and no sweep helped)."""
    from tests.subjects.capture import passing_bursts

    request = verified_in(client, "never.checked@example.org")
    challenge, token = camera_check.issue_challenge(request)
    pose = camera_check.begin(request, token).pose
    later = timezone.now() + dt.timedelta(seconds=1)
    camera_check.queue_burst(request, token, 0, passing_bursts()[pose], arrived=later)
    challenge.refresh_from_db()
    queued = list(challenge.checking_files)
    assert len(queued) == 6 and all(default_storage.exists(name) for name in queued)
    for name in queued:
        assert stat.S_IMODE(Path(default_storage.path(name)).stat().st_mode) == 0o600
    # Waiting longer than a challenge's life (workers busy) keeps the burst.
    old = timezone.now() - dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS + 5)
    LivenessChallenge.objects.filter(pk=challenge.pk).update(issued_at=old, revealed_at=old)
    assert run_purges()["camera_checks_purged"] == 0
    assert all(default_storage.exists(name) for name in queued)
    # Waiting longer than LIVENESS_CHECK_WAIT_SECONDS: gone, frames and all.
    LivenessChallenge.objects.filter(pk=challenge.pk).update(
        checking_since=timezone.now() - dt.timedelta(
            seconds=settings.LIVENESS_CHECK_WAIT_SECONDS + 5))
    assert run_purges()["camera_checks_purged"] == 1
    assert not LivenessChallenge.objects.filter(pk=challenge.pk).exists()
    assert not any(default_storage.exists(name) for name in queued)
