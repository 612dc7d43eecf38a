"""The staff side against someone who tries (issue 32): one login policy for
every staff door, sessions that end, keys that need the code, a scope and
an end, a reset that cuts old keys, a password-change page, no switched-off
second factor in production, and the health endpoints' answers."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import views as portal_views
from portal.middleware import LAST_SEEN_AT, LOGGED_IN_AT
from portal.models import WorkerHeartbeat
from subjects.dpo import accounts
from subjects.dpo.models import ApiKey
from tests.portal.test_health import all_queues_beat
from tests.portal.test_startup import start_django
from tests.subjects.dpo_helpers import (
    DORA,
    PASSWORD,
    dpo_key,
    log_in_verified,
    make_dpo,
    make_request,
)

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/?next=/admin/"
DPO_LOGIN = "/dpo/login/"
ROOT = "root@example.org"
WRONG = "The e-mail address, the password or the code is wrong, or this account has no " \
        "access to the administration."
TOO_MANY = "Too many login attempts. Please wait a while and try again."


@pytest.fixture
def root():
    """A superuser with an authenticator app, as an operator would make one."""
    user = get_user_model().objects.create_superuser(ROOT, email=ROOT, password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return user, accounts.Enrolment(device)


def _wait_out_the_throttle(user) -> None:
    """What waiting would do: django-otp refuses every code, the right one
    too, for a while after a wrong one."""
    TOTPDevice.objects.filter(user=user).update(throttling_failure_count=0,
                                                throttling_failure_timestamp=None)


def _error_of(response) -> str:
    found = re.search(r'<p class="errornote">\s*(.*?)\s*</p>', response.content.decode(), re.S)
    return found.group(1) if found else ""


# -- one login policy ---------------------------------------------------------------


def test_the_admin_login_answers_the_same_for_a_right_password_without_code_as_for_a_wrong_one(
        root, settings):
    settings.REQUIRE_DPO_2FA = True
    # Right password and the current code: in. (First: after a wrong code,
    # django-otp refuses even the right one for a while.)
    client = Client()
    response = client.post(ADMIN_LOGIN, {"username": ROOT, "password": PASSWORD,
                                         "otp_token": accounts.current_code(root[1].secret)})
    assert response.status_code == 302 and response["Location"] == "/admin/", _error_of(response)
    assert client.get("/admin/").status_code == 200
    answers = {}
    for case, data in {
        "wrong password": {"username": ROOT, "password": "not it", "otp_token": ""},
        "right password, no code": {"username": ROOT, "password": PASSWORD, "otp_token": ""},
        "right password, wrong code": {"username": ROOT, "password": PASSWORD,
                                       "otp_token": "000000"},
        "no such account": {"username": "nobody@example.org", "password": PASSWORD,
                            "otp_token": ""},
    }.items():
        response = Client().post(ADMIN_LOGIN, data)
        answers[case] = (response.status_code, _error_of(response))
    assert set(answers.values()) == {(200, WRONG)}, answers


def test_a_dpo_with_the_right_password_and_code_gets_no_admin_session(settings):
    settings.REQUIRE_DPO_2FA = True
    user, enrolment = make_dpo()
    assert user.is_staff is False  # the DPO area checks the group, not is_staff
    client = Client()
    response = client.post(ADMIN_LOGIN, {"username": DORA, "password": PASSWORD,
                                         "otp_token": accounts.current_code(enrolment.secret)})
    assert _error_of(response) == WRONG
    assert client.get("/admin/").status_code == 302


def test_guessing_at_the_admin_is_held_back_and_shares_its_count_with_the_dashboard(
        root, settings):
    settings.REQUIRE_DPO_2FA = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": "10/15m"}
    # Five guesses at the dashboard's door, then five at the admin's: the
    # eleventh anywhere is refused, the right password included.
    for _ in range(5):
        assert Client().post(DPO_LOGIN, {"email": ROOT, "password": "guess",
                                         "code": "123456"}).status_code == 400
    for _ in range(5):
        assert _error_of(Client().post(ADMIN_LOGIN, {"username": ROOT, "password": "guess",
                                                     "otp_token": "123456"})) == WRONG
    client = Client()
    refused = client.post(ADMIN_LOGIN, {"username": ROOT, "password": PASSWORD,
                                        "otp_token": accounts.current_code(root[1].secret)})
    assert _error_of(refused) == TOO_MANY
    assert client.get("/admin/").status_code == 302


# -- sessions that end --------------------------------------------------------------


def _age_session(client, **seconds_ago) -> None:
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[key] = now - ago
    session.save()


def test_a_session_idle_past_thirty_minutes_is_refused(settings):
    client = log_in_verified(Client(), make_dpo()[0])
    assert client.get("/dpo/").status_code == 200
    _age_session(client, **{LAST_SEEN_AT: 29 * 60})
    assert client.get("/dpo/").status_code == 200  # 29 minutes: still in, and seen again
    _age_session(client, **{LAST_SEEN_AT: 31 * 60})
    response = client.get("/dpo/")
    assert response.status_code == 302 and response["Location"].startswith(DPO_LOGIN)
    # Logged out for good, not only for that request.
    assert client.get("/dpo/keys/").status_code == 302


def test_a_session_ends_eight_hours_after_its_login_however_busy(settings):
    client = log_in_verified(Client(), make_dpo()[0])
    _age_session(client, **{LOGGED_IN_AT: 8 * 3600 - 60, LAST_SEEN_AT: 10})
    assert client.get("/dpo/").status_code == 200
    _age_session(client, **{LOGGED_IN_AT: 8 * 3600 + 60, LAST_SEEN_AT: 10})
    assert client.get("/dpo/").status_code == 302
    assert settings.SESSION_COOKIE_AGE == 8 * 3600


# -- API keys -------------------------------------------------------------------------


def test_creating_a_key_asks_for_the_code_again(settings):
    settings.REQUIRE_DPO_2FA = True
    user, enrolment = make_dpo()
    client = log_in_verified(Client(), user)
    for code in ("", "000000"):
        refused = client.post("/dpo/keys/", {"name": "tool", "scope": "act", "code": code})
        assert refused.status_code == 400
        assert "frp_" not in refused.content.decode()
    assert "This code is wrong or was used already" in refused.content.decode()
    assert not ApiKey.objects.filter(user=user).exists()
    _wait_out_the_throttle(user)
    made = client.post("/dpo/keys/", {"name": "tool", "scope": "act",
                                      "code": accounts.current_code(enrolment.secret)})
    assert made.status_code == 201
    key = ApiKey.objects.get(user=user)
    assert key.scope == "act"
    assert key.expires_at - key.created_at == dt.timedelta(days=settings.DPO_API_KEY_DAYS)


def test_a_read_only_key_reads_but_cannot_act():
    user, _ = make_dpo()
    request = make_request("awaiting_review")
    read_key, act_key = dpo_key(user, scope="read"), dpo_key(user, scope="act")
    url = f"/api/v1/requests/{request.reference}/ask-for-information"
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert reader.get(f"/api/v1/requests/{request.reference}").status_code == 200
    refused = reader.post(url, {"question": "Which photo is yours?"},
                          content_type="application/json")
    assert refused.status_code == 403
    assert "may only read" in refused.json()["detail"]
    request.refresh_from_db()
    assert request.state == "awaiting_review"
    acted = Client(HTTP_AUTHORIZATION=f"Bearer {act_key}").post(
        url, {"question": "Which photo is yours?"}, content_type="application/json")
    assert acted.status_code == 200, acted.content
    request.refresh_from_db()
    assert request.state == "info_requested"


def test_a_reset_revokes_every_key_of_the_account(monkeypatch):
    user, _ = make_dpo()
    key = dpo_key(user)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/requests").status_code == 200
    accounts.create_dpo(DORA, password=PASSWORD + " new", reset=True)
    assert api.get("/api/v1/requests").status_code == 401
    assert ApiKey.objects.get(user=user).revoked_at is not None


def test_crawler_keys_expire(settings):
    row, key = ApiKey.issue(name="crawler", purpose=ApiKey.Purpose.CRAWLER)
    assert row.expires_at - row.created_at == dt.timedelta(days=settings.CRAWLER_API_KEY_DAYS)
    assert ApiKey.find(key) is not None
    ApiKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert ApiKey.find(key) is None


# -- the password ---------------------------------------------------------------------


def test_a_dpo_changes_the_password_with_the_old_one_and_the_code_and_other_sessions_end(
        settings):
    settings.REQUIRE_DPO_2FA = True
    user, enrolment = make_dpo()
    here, elsewhere = log_in_verified(Client(), user), log_in_verified(Client(), user)
    new = "a much longer new passphrase 2026"
    wrong_old = here.post("/dpo/password/", {"old_password": "not it", "new_password1": new,
                                             "new_password2": new,
                                             "code": accounts.current_code(enrolment.secret)})
    assert wrong_old.status_code == 400
    no_code = here.post("/dpo/password/", {"old_password": PASSWORD, "new_password1": new,
                                           "new_password2": new, "code": ""})
    assert no_code.status_code == 400
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    done = here.post("/dpo/password/", {"old_password": PASSWORD, "new_password1": new,
                                        "new_password2": new,
                                        "code": accounts.current_code(enrolment.secret)})
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)
    assert here.get("/dpo/").status_code == 200
    assert elsewhere.get("/dpo/").status_code == 302


# -- production settings --------------------------------------------------------------


def test_production_refuses_to_switch_the_second_factor_off():
    result = start_django(DEBUG="0", SECRET_KEY="a-real-secret-" + "k" * 40,
                          REQUIRE_DPO_2FA="0", ALLOW_EMBEDDED_DATABASE="1")
    assert result.returncode != 0
    assert "REQUIRE_DPO_2FA=0 is only accepted with DEBUG=1" in result.stderr
    assert "started" not in result.stdout


# -- health -----------------------------------------------------------------------------


def test_anonymous_healthz_hits_share_one_check_for_a_few_seconds(settings, monkeypatch):
    settings.HEALTHZ_CACHE_SECONDS = 60
    monkeypatch.setattr(portal_views, "_last_health", None)
    all_queues_beat(settings)
    assert Client().get("/healthz").status_code == 200
    WorkerHeartbeat.objects.all().delete()  # every worker gone
    # Within the period the answer is the one already made...
    assert Client().get("/healthz").status_code == 200
    # ...and once it is over, the check runs again.
    settings.HEALTHZ_CACHE_SECONDS = 0
    assert Client().get("/healthz").status_code == 503
