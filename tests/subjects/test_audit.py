"""The audit trail is hash-chained and append-only: the database refuses
UPDATE and DELETE, and verify_audit names the first broken event of a trail
that someone who owns the table rewrote anyway."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from subjects.core import tokens
from subjects.core.audit import record_event, verify_chain
from subjects.core.states import TransitionNotAllowed
from subjects.core.transitions import transition
from subjects.jobs.retention import purge_audit_reasons
from subjects.models import AuditEvent, RightsRequest
from subjects.person import intake
from tests.subjects.audit_helpers import as_table_owner_disabling_the_trigger
from tests.subjects.helpers import confirm_in

pytestmark = pytest.mark.django_db


def some_history():
    for n in range(3):
        request = intake.start_request(email=f"audit{n}.example@example.org", language="en")
        intake.verify_email(tokens.verification_token(request))


def test_an_intact_chain_is_reported_intact_with_its_head():
    some_history()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert f"The audit trail is intact ({AuditEvent.objects.count()} events)" in out.getvalue()
    head = AuditEvent.objects.order_by("pk").last()
    # The head's position: the n-th event of the trail.
    position = AuditEvent.objects.count()
    assert f"Head: event {position} of" in out.getvalue() and head.hash in out.getvalue()


def test_the_database_refuses_to_change_or_delete_an_audit_event():
    some_history()
    victim = AuditEvent.objects.order_by("pk")[2]
    for attempt in (lambda: AuditEvent.objects.filter(pk=victim.pk).update(reason="rewritten"),
                    lambda: AuditEvent.objects.filter(pk=victim.pk).update(action="approved"),
                    lambda: AuditEvent.objects.filter(pk=victim.pk).delete()):
        with pytest.raises(DatabaseError, match="the audit trail is append-only"), \
                transaction.atomic():
            attempt()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("UPDATE subjects_auditevent SET hash = md5(hash) || md5(hash)")
    stored = AuditEvent.objects.get(pk=victim.pk)
    assert (stored.reason, stored.action, stored.hash) == (victim.reason, victim.action,
                                                           victim.hash)
    assert verify_chain().intact


def test_retention_blanks_reasons_through_its_function_and_the_chain_still_verifies(settings):
    request = intake.start_request(email="purged.reasons@example.org", language="en")
    request = intake.verify_email(tokens.verification_token(request))
    record_event(request, actor="dpo", action="info_requested",
                 reason="Is the man next to you in photo 2 your brother Jan?")
    record_event(request, actor="system", action="expired")
    # Open, the reasons stay, whoever asks (migration 0014).
    with pytest.raises(DatabaseError, match="it is not closed past its retention"), \
            transaction.atomic():
        purge_audit_reasons(request)
    assert request.events.filter(reason__startswith="Is the man").exists()
    RightsRequest.objects.filter(pk=request.pk).update(
        state="expired", closed_at=timezone.now() - dt.timedelta(
            days=settings.PERSONAL_DATA_RETENTION_DAYS + 1))
    assert purge_audit_reasons(request) == 1
    assert not request.events.exclude(reason="").exists()
    assert verify_chain().intact
    # The function blanks reasons only; setting one to other words is refused.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        request.events.filter(action="info_requested").update(reason="Nothing happened")


def test_a_tampered_row_is_caught_and_named():
    some_history()
    victim = AuditEvent.objects.order_by("pk")[2]
    with as_table_owner_disabling_the_trigger():
        AuditEvent.objects.filter(pk=victim.pk).update(reason="nothing to see here")
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    assert f"broken at event {victim.pk}" in str(caught.value)
    assert "was changed after it was written" in str(caught.value)


def test_a_deleted_row_is_caught_at_the_next_event():
    some_history()
    events = list(AuditEvent.objects.order_by("pk"))
    with as_table_owner_disabling_the_trigger():
        AuditEvent.objects.filter(pk=events[1].pk).delete()
    with pytest.raises(CommandError, match=f"broken at event {events[2].pk}"):
        call_command("verify_audit")


def test_every_transition_writes_who_from_to_and_why_and_refuses_the_impossible():
    request = intake.start_request(email="sm.example@example.org", language="en")
    with pytest.raises(TransitionNotAllowed):
        transition(request, "completed", actor="dpo", action="completed")
    request = intake.verify_email(tokens.verification_token(request))
    event = request.events.order_by("pk").last()
    assert (event.actor, event.from_state, event.to_state, event.action) == (
        "requester", "unverified", "verified", "email_verified")
    assert "sm.example" not in str(AuditEvent.objects.values_list())


def test_every_event_written_has_a_sentence_in_every_language(client):
    """The catalogue in subjects/core/events.py names every action the trail
    records, and the person's status page reads its sentences from there."""
    from django.utils import translation

    from subjects.core.events import Action, label

    for action in Action:
        with translation.override("en"):
            english = label(action)
        for language in ("nl", "fr", "de"):
            with translation.override(language):
                assert label(action) != english, (action, language)
    assert label("something_from_an_older_version") == "Updated"
    request = intake.start_request(email="labels.example@example.org", language="nl")
    request = confirm_in(client, request)
    written = set(request.events.values_list("action", flat=True))
    assert written == {Action.CREATED, Action.EMAIL_VERIFIED}
    # The status page shows the timeline once a request is filed.
    request.__class__.objects.filter(pk=request.pk).update(
        state="awaiting_review", received_at=request.verified_at)
    client.cookies["django_language"] = "nl"
    page = client.get(f"/r/{tokens.access_token(request)}/status/").content.decode()
    with translation.override("nl"):
        assert label(Action.EMAIL_VERIFIED) in page and label(Action.CREATED) in page
