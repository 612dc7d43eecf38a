"""Each purge removes what is due and nothing else; deadline alerts go once."""

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from subjects.core import tokens
from subjects.jobs.access_package import purge_expired_packages
from subjects.jobs.reminders import send_deadline_alerts
from subjects.jobs.retention import (
    expire_unverified,
    purge_closed_selfie_templates,
    purge_personal_data,
)
from subjects.models import AccessPackage, Match, OutboundEmail, RightsRequest
from subjects.person import intake

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def make(email: str, *, state: str, created_days_ago: int = 0, **fields) -> RightsRequest:
    request = intake.start_request(email=email, language="en")
    if state != "unverified":
        request = intake.verify_email(tokens.verification_token(request))
    RightsRequest.objects.filter(pk=request.pk).update(
        state=state, created_at=NOW - dt.timedelta(days=created_days_ago), **fields)
    request.refresh_from_db()
    return request


def test_unverified_requests_expire_after_seven_days_and_lose_their_address():
    old = make("old.unverified@example.org", state="unverified", created_days_ago=8)
    young = make("young.unverified@example.org", state="unverified", created_days_ago=6)
    verified = make("old.verified@example.org", state="verified", created_days_ago=8)
    assert expire_unverified() == 1
    old.refresh_from_db(), young.refresh_from_db(), verified.refresh_from_db()
    assert (old.state, old.email) == ("expired", "")
    assert old.closed_at is not None
    assert OutboundEmail.objects.filter(request=old, kind="request_expired").count() == 1
    assert (young.state, young.email) == ("unverified", "young.unverified@example.org")
    assert (verified.state, verified.email) == ("verified", "old.verified@example.org")
    assert expire_unverified() == 0


def test_access_packages_are_deleted_at_expiry_and_only_then():
    files = {}
    for name, expires in (("expired", NOW - dt.timedelta(hours=1)),
                          ("valid", NOW + dt.timedelta(days=2))):
        request = make(f"{name}.package@example.org", state="completed")
        package = AccessPackage(request=request, expires_at=expires)
        package.file.save(f"{name}.zip", ContentFile(b"PK zip bytes"), save=False)
        package.save()
        files[name] = package
    assert purge_expired_packages() == 1
    expired, valid = (AccessPackage.objects.get(pk=files[n].pk) for n in ("expired", "valid"))
    assert expired.purged_at is not None and not expired.file
    assert not files["expired"].file.storage.exists(files["expired"].file.name)
    assert valid.purged_at is None and valid.file.storage.exists(valid.file.name)
    assert expired.request.events.filter(action="package_purged").count() == 1


def test_selfie_templates_of_closed_requests_are_deleted_and_open_ones_kept():
    vector = [0.1] * 128
    closed = make("closed.template@example.org", state="completed", selfie_embedding=vector)
    open_ = make("open.template@example.org", state="awaiting_review", selfie_embedding=vector)
    assert purge_closed_selfie_templates() == 1
    closed.refresh_from_db(), open_.refresh_from_db()
    assert closed.selfie_embedding is None
    assert open_.selfie_embedding is not None


def test_personal_data_goes_a_configured_time_after_closing_and_the_skeleton_stays(settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 90
    due = make("due.purge@example.org", state="completed", access=True,
               closed_at=NOW - dt.timedelta(days=91), received_at=NOW - dt.timedelta(days=120))
    recent = make("recent.purge@example.org", state="completed",
                  closed_at=NOW - dt.timedelta(days=30))
    still_open = make("open.purge@example.org", state="awaiting_review")
    for request in (due, recent, still_open):
        Match.objects.create(request=request, photo_id_at_search=1, distance=0.3, tier="match")
    assert purge_personal_data() == 1
    due.refresh_from_db()
    assert (due.email, due.email_hash) == ("", "")
    assert not due.matches.exists()
    assert set(due.emails.values_list("recipient", flat=True)) == {""}
    # The skeleton: reference, kinds, dates, states and the audit trail.
    assert due.reference and due.access and due.received_at and due.state == "completed"
    assert due.events.filter(action="email_verified").exists()
    assert due.events.filter(action="personal_data_purged").count() == 1
    for request in (recent, still_open):
        request.refresh_from_db()
        assert request.email.endswith("@example.org") and request.matches.count() == 1
    assert purge_personal_data() == 0


def test_deadline_alerts_go_once_per_request_and_due_date():
    request = make("alerts@example.org", state="awaiting_review", access=True,
                   received_at=timezone.make_aware(dt.datetime(2026, 1, 10, 12)))
    assert request.due_date == dt.date(2026, 2, 10)
    quiet = {"dpo_due_soon": 0, "dpo_due_tomorrow": 0, "dpo_overdue": 0}
    for today, kind in ((dt.date(2026, 2, 3), "dpo_due_soon"),
                        (dt.date(2026, 2, 9), "dpo_due_tomorrow"),
                        (dt.date(2026, 2, 12), "dpo_overdue")):
        assert send_deadline_alerts(today=today) == {**quiet, kind: 1}
        assert send_deadline_alerts(today=today) == quiet  # once only
        assert OutboundEmail.objects.filter(request=request, kind=kind).count() == 1
    assert send_deadline_alerts(today=dt.date(2026, 2, 5)) == quiet
    # A closed request gets no alert.
    RightsRequest.objects.filter(pk=request.pk).update(state="completed")
    OutboundEmail.objects.all().delete()
    assert send_deadline_alerts(today=dt.date(2026, 2, 12)) == quiet
