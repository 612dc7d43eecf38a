"""The audit trail against the portal's own database role (issue 32).

In production the portal connects as a role that does not own its tables
(``manage.py grant_app_role``, docs/operations.md). Connected as such a
role, every change to the trail is refused: UPDATE, DELETE, TRUNCATE,
switching the trigger off, rewriting the retention period, and blanking the
reasons of a request that is still open; blanking a request closed past its
retention works, through the one function made for it. And one purge that
fails no longer stops the purges after it."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import errors, sql

from portal.roles import grant_application_role
from subjects.core import tokens
from subjects.core.audit import record_event, verify_chain
from subjects.jobs import audit_heads
from subjects.jobs.retention import run_purges
from subjects.models import AuditEvent, LivenessChallenge, PublishedAuditHead, RightsRequest
from subjects.person import intake

REASON = "Is the man next to you in photo 2 your brother Jan?"


def _request(email: str, *, closed_days_ago: int | None) -> RightsRequest:
    request = intake.start_request(email=email, language="en")
    request = intake.verify_email(tokens.verification_token(request))
    record_event(request, actor="dpo", action="info_requested", reason=REASON)
    if closed_days_ago is not None:
        RightsRequest.objects.filter(pk=request.pk).update(
            state="rejected", closed_at=timezone.now() - dt.timedelta(days=closed_days_ago))
    return request


@pytest.fixture
def app_role(transactional_db):
    """A login role with the rights grant_app_role gives, and no more."""
    name = f"portal_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)).as_string(
            cursor.connection))
    grant_application_role(name)
    yield name
    with connection.cursor() as cursor:
        for statement in ("DROP OWNED BY {}", "DROP ROLE {}"):
            cursor.execute(sql.SQL(statement).format(sql.Identifier(name)).as_string(
                cursor.connection))


def _as(role: str) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(dbname=db["NAME"], user=role, host=db["HOST"],
                           port=db["PORT"] or None, autocommit=True)


ATTACKS = {
    "update": "UPDATE subjects_auditevent SET reason = 'nothing happened'",
    "blank a reason directly": "UPDATE subjects_auditevent SET reason = ''",
    "delete": "DELETE FROM subjects_auditevent",
    "truncate": "TRUNCATE subjects_auditevent",
    "disable the trigger": "ALTER TABLE subjects_auditevent DISABLE TRIGGER ALL",
    "drop the trigger": "DROP TRIGGER subjects_audit_append_only ON subjects_auditevent",
    "shorten the retention": "UPDATE subjects_auditpolicy SET reason_retention_days = 0",
    "rewrite a published head": "UPDATE subjects_publishedaudithead SET hash = md5(hash)",
    "delete a published head": "DELETE FROM subjects_publishedaudithead",
    "truncate the published heads": "TRUNCATE subjects_publishedaudithead",
}


def test_the_application_role_cannot_change_the_audit_trail(app_role):
    open_one = _request("still.open@example.org", closed_days_ago=None)
    audit_heads.publish_audit_head()
    events, heads = AuditEvent.objects.count(), PublishedAuditHead.objects.count()
    assert heads == 1
    refused = {}
    with _as(app_role) as conn:
        # What the portal must do, it can: read and append.
        assert conn.execute("SELECT count(*) FROM subjects_auditevent").fetchone()[0] == events
        assert conn.execute("SELECT has_table_privilege(current_user, 'subjects_auditevent', "
                            "'INSERT')").fetchone()[0] is True
        for name, statement in ATTACKS.items():
            try:
                conn.execute(statement)
            except (errors.InsufficientPrivilege, errors.RaiseException) as error:
                refused[name] = type(error).__name__
        with pytest.raises(errors.InsufficientPrivilege, match="not closed past its retention"):
            conn.execute("SELECT subjects_purge_audit_reasons(%s)", [open_one.pk])
    assert set(refused) == set(ATTACKS), set(ATTACKS) - set(refused)
    assert AuditEvent.objects.count() == events
    assert PublishedAuditHead.objects.count() == heads
    assert open_one.events.filter(reason=REASON).exists()
    assert verify_chain().intact
    with connection.cursor() as cursor:
        cursor.execute("SELECT reason_retention_days FROM subjects_auditpolicy")
        assert cursor.fetchone()[0] == settings.PERSONAL_DATA_RETENTION_DAYS


def test_the_application_role_blanks_only_what_retention_allows(app_role):
    days = settings.PERSONAL_DATA_RETENTION_DAYS
    due = _request("due.blanking@example.org", closed_days_ago=days + 1)
    recent = _request("recent.blanking@example.org", closed_days_ago=days - 1)
    with _as(app_role) as conn:
        assert conn.execute("SELECT subjects_purge_audit_reasons(%s)",
                            [due.pk]).fetchone()[0] == 1
        with pytest.raises(errors.InsufficientPrivilege, match="not closed past its retention"):
            conn.execute("SELECT subjects_purge_audit_reasons(%s)", [recent.pk])
    assert not due.events.exclude(reason="").exists()
    assert recent.events.filter(reason=REASON).exists()
    assert verify_chain().intact


@pytest.mark.django_db
def test_the_owner_too_cannot_blank_an_open_requests_reason():
    open_one = _request("owner.blanking@example.org", closed_days_ago=None)
    with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE subjects_auditevent SET reason = '' WHERE request_id = %s",
                       [open_one.pk])


@pytest.mark.django_db
def test_a_purge_that_fails_does_not_stop_the_purges_after_it(settings):
    """The personal-data purge fails (its database function is gone, as with
    a role that may not run it); the camera-check purge after it still runs."""
    due = _request("purge.fails@example.org",
                   closed_days_ago=settings.PERSONAL_DATA_RETENTION_DAYS + 1)
    stale = LivenessChallenge.objects.create(
        request=due, poses=["left"],
        issued_at=timezone.now() - dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS + 60))
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("DROP FUNCTION subjects_purge_audit_reasons(bigint)")
    done = run_purges()
    assert done["requests_purged"] == -1
    assert done["camera_checks_purged"] == 1
    assert not LivenessChallenge.objects.filter(pk=stale.pk).exists()
    due.refresh_from_db()
    assert due.email == "purge.fails@example.org"  # its own purge rolled back whole
