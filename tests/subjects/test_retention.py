"""Each purge removes what is due and nothing else; deadline alerts go once."""

import datetime as dt
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from subjects.core import tokens
from subjects.core.audit import record_event, verify_chain
from subjects.core.closing import PRIVATE_FILE_FIELDS
from subjects.jobs.access_package import purge_expired_packages
from subjects.jobs.delivery import build_message
from subjects.jobs.reminders import send_deadline_alerts
from subjects.jobs.retention import (
    ORPHAN_GRACE,
    expire_request,
    expire_stale_requests,
    purge_closed_selfie_templates,
    purge_orphan_files,
    purge_personal_data,
    stale_requests,
)
from subjects.jobs.selfie_search import fail_search
from subjects.models import AccessPackage, Match, OutboundEmail, RightsRequest
from subjects.person import intake, selfie
from tests.conftest import FACES_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_files_left_behind():
    """The database goes back after each test, files do not: delete the
    private files a test wrote (other tests count the selfie folder)."""
    before = set(default_storage.listdir("selfies")[1]) if default_storage.exists("selfies") \
        else set()
    yield
    if default_storage.exists("selfies"):
        for name in set(default_storage.listdir("selfies")[1]) - before:
            default_storage.delete(f"selfies/{name}")

NOW = timezone.now()


def make(email: str, *, state: str, created_days_ago: int = 0, **fields) -> RightsRequest:
    request = intake.start_request(email=email, language="en")
    if state != "unverified":
        request = intake.verify_email(tokens.verification_token(request))
    RightsRequest.objects.filter(pk=request.pk).update(
        state=state, created_at=NOW - dt.timedelta(days=created_days_ago),
        state_since=NOW - dt.timedelta(days=created_days_ago), **fields)
    request.refresh_from_db()
    return request


def test_unverified_requests_expire_after_their_limit_and_lose_their_address(settings):
    settings.REQUEST_EXPIRY = {**settings.REQUEST_EXPIRY, "unverified": dt.timedelta(days=7)}
    old = make("old.unverified@example.org", state="unverified", created_days_ago=8)
    young = make("young.unverified@example.org", state="unverified", created_days_ago=6)
    assert expire_stale_requests() == 1
    old.refresh_from_db(), young.refresh_from_db()
    assert (old.state, old.email) == ("expired", "")
    assert old.closed_at is not None
    [sent] = OutboundEmail.objects.filter(request=old, kind="request_expired")
    assert "did not confirm your e-mail address within 7 days" in render_text(sent)
    assert (young.state, young.email) == ("unverified", "young.unverified@example.org")
    assert expire_stale_requests() == 0


def render_text(outbound: OutboundEmail) -> str:
    return build_message(outbound).body


def private_files_of(request: RightsRequest) -> dict[str, str]:
    """A stored file for every private file field of the request (the selfie
    waiting for the worker, the upload kept for the DPO, a live frame: every
    ``*_file`` field there is)."""
    names = {}
    for field in PRIVATE_FILE_FIELDS:
        names[field] = default_storage.save(f"selfies/{field}-{request.reference}.img",
                                            ContentFile(b"a face"))
    RightsRequest.objects.filter(pk=request.pk).update(**names)
    return names


@pytest.mark.parametrize("state", ["unverified", "verified", "searching", "matches_ready",
                                   "info_requested"])
def test_a_request_left_in_a_waiting_state_expires_after_its_limit_with_its_data(settings, state):
    limit = settings.REQUEST_EXPIRY[state]
    fields = {"selfie_embedding": [0.1] * 128, "selfie_model": "dlib"}
    if state == "info_requested":
        fields.update(received_at=NOW - dt.timedelta(days=40), access=True,
                      paused_since=NOW - limit)
    due = make(f"due.{state}@example.org", state=state, **fields)
    almost = make(f"almost.{state}@example.org", state=state, **fields)
    due_files, almost_files = private_files_of(due), private_files_of(almost)
    RightsRequest.objects.filter(pk=due.pk).update(
        state_since=NOW - limit - dt.timedelta(minutes=1))
    RightsRequest.objects.filter(pk=almost.pk).update(
        state_since=NOW - limit + dt.timedelta(minutes=5))

    assert expire_stale_requests(now=NOW) == 1
    due.refresh_from_db(), almost.refresh_from_db()
    # Through the state machine, with the audit event.
    assert due.state == "expired" and due.closed_at is not None
    event = due.events.order_by("pk").last()
    assert (event.action, event.from_state, event.to_state, event.actor) == (
        "expired", state, "expired", "system")
    assert event.details == {"state": state, "limit_hours": int(limit.total_seconds() // 3600)}
    # The template and every private file are gone.
    assert due.selfie_embedding is None
    for field, name in due_files.items():
        assert getattr(due, field) == "" and not default_storage.exists(name), field
    # The person is told (an unverified address too, which then leaves).
    [sent] = OutboundEmail.objects.filter(request=due, kind="request_expired")
    if state != "unverified":
        assert "so it has expired" in render_text(sent)
        assert "deleted your face template" in render_text(sent)
    # Not yet past its limit: nothing happens.
    assert almost.state == state and almost.selfie_embedding is not None
    assert all(default_storage.exists(name) for name in almost_files.values())
    assert expire_stale_requests(now=NOW) == 0


@pytest.mark.parametrize("state", ["filed", "awaiting_review", "in_progress", "error"])
def test_a_filed_request_the_dpo_owes_an_answer_never_expires(state):
    request = make(f"owed.{state}@example.org", state=state, access=True,
                   received_at=NOW - dt.timedelta(days=400), selfie_embedding=[0.1] * 128)
    RightsRequest.objects.filter(pk=request.pk).update(state_since=NOW - dt.timedelta(days=365))
    assert expire_stale_requests(now=NOW) == 0
    request.refresh_from_db()
    assert request.state == state and request.selfie_embedding is not None


@pytest.mark.parametrize("state", ["identity_review", "error"])
def test_a_request_waiting_on_the_dpo_before_filing_never_expires(state):
    """The identity check and a search that failed for good wait on the
    controller: its silence must not end the request (they used to expire
    after 30 days, the person told their request had "expired")."""
    request = make(f"unfiled.{state}@example.org", state=state, created_days_ago=365,
                   selfie_embedding=[0.1] * 128)
    assert expire_stale_requests(now=NOW) == 0
    assert not stale_requests(now=NOW).exists()
    request.refresh_from_db()
    assert request.state == state and request.selfie_embedding is not None
    assert not OutboundEmail.objects.filter(request=request, kind="request_expired").exists()


def test_an_identity_check_left_60_days_stays_open_and_the_person_is_told_it_is_late():
    """Art. 12(3) and the design's escalation: the identity check is owed an
    answer one month after the person started; from then the DPO is alerted
    every day and the person, in their language, is told it is late and
    that they may complain (Art. 77) and go to court (Art. 79)."""
    request = make("late.identity@example.org", state="identity_review", created_days_ago=60,
                   selfie_embedding=[0.1] * 128)
    RightsRequest.objects.filter(pk=request.pk).update(language="nl")
    today = timezone.localdate()
    for _day in range(2):  # the daily job, twice: still one late notice
        send_deadline_alerts(today=today)
    assert expire_stale_requests(now=timezone.now()) == 0
    request.refresh_from_db()
    assert request.state == "identity_review"
    [late] = OutboundEmail.objects.filter(request=request, kind="request_late")
    assert late.recipient == "late.identity@example.org" and late.language == "nl"
    message = build_message(late)
    html = message.alternatives[0][0]
    for part in (message.body, html):
        assert "art. 77 AVG" in part and "art. 79 AVG" in part
        assert "klacht in te dienen bij de toezichthoudende autoriteit" in part
        assert "voor de rechter" in part
    assert request.reference in message.subject and "te laat" in message.subject
    assert OutboundEmail.objects.filter(request=request, kind="dpo_overdue").count() == 1
    # The next day: another alert to the DPO, no second notice to the person.
    send_deadline_alerts(today=today + dt.timedelta(days=1))
    assert OutboundEmail.objects.filter(request=request, kind="dpo_overdue").count() == 2
    assert OutboundEmail.objects.filter(request=request, kind="request_late").count() == 1


def test_the_dpo_is_alerted_7_and_2_days_before_and_every_day_overdue():
    request = make("alert.days@example.org", state="awaiting_review", access=True,
                   received_at=timezone.make_aware(dt.datetime(2026, 1, 10, 12)))
    assert request.due_date == dt.date(2026, 2, 10)
    for day in range(1, 15):  # 1 to 14 February, the job once a day (and rerun)
        send_deadline_alerts(today=dt.date(2026, 2, day))
        send_deadline_alerts(today=dt.date(2026, 2, day))
    sent = OutboundEmail.objects.filter(request=request).order_by("pk")
    assert [(m.kind, m.context["days_left"]) for m in sent if m.kind.startswith("dpo_")] == [
        ("dpo_due_soon", 7), ("dpo_due_soon", 2), ("dpo_due_tomorrow", 1),
        ("dpo_overdue", -1), ("dpo_overdue", -2), ("dpo_overdue", -3), ("dpo_overdue", -4)]
    # Late from the first overdue day: the person is told once.
    [late] = [m for m in sent if m.kind == "request_late"]
    assert late.context["due"] == "2026-02-10"
    text = build_message(late).body
    assert "(Art. 77 GDPR)" in text and "(Art. 79 GDPR)" in text
    assert "by 2026-02-10" in text


def test_expiry_leaves_a_request_alone_that_moved_on_meanwhile(settings):
    request = make("moved.on@example.org", state="searching")
    RightsRequest.objects.filter(pk=request.pk).update(state_since=NOW - dt.timedelta(days=3))
    stale = list(stale_requests(now=NOW))
    assert [r.pk for r in stale] == [request.pk]
    # The search finished between the selection and the expiry.
    RightsRequest.objects.filter(pk=request.pk).update(state="matches_ready", state_since=NOW)
    assert expire_request(stale[0], now=NOW) is False
    request.refresh_from_db()
    assert request.state == "matches_ready"


def test_files_no_open_request_names_are_purged_after_a_grace_period():
    open_request = make("open.files@example.org", state="searching")
    closed = make("closed.files@example.org", state="completed")
    kept = private_files_of(open_request)["selfie_pending_file"]
    closed_file = default_storage.save("selfies/closed.img", ContentFile(b"face"))
    RightsRequest.objects.filter(pk=closed.pk).update(selfie_review_file=closed_file)
    orphan = default_storage.save("selfies/orphan.img", ContentFile(b"face"))
    fresh = default_storage.save("selfies/fresh.img", ContentFile(b"face"))
    # Files written just now may belong to a transaction not committed yet.
    assert purge_orphan_files() == 0
    two_hours_ago = (timezone.now() - 2 * ORPHAN_GRACE).timestamp()
    for name in (kept, closed_file, orphan):
        os.utime(default_storage.path(name), (two_hours_ago, two_hours_ago))
    assert purge_orphan_files(batch_size=1) == 1  # bounded
    assert purge_orphan_files() == 1
    assert not default_storage.exists(orphan) and not default_storage.exists(closed_file)
    assert default_storage.exists(kept) and default_storage.exists(fresh)


def test_a_search_that_fails_for_good_goes_to_error_and_deletes_the_selfie():
    request = make("failing.search@example.org", state="verified")
    request = selfie.submit_selfie(request, (FACES_DIR / "obama_2.jpg").read_bytes(), live=True)
    name = request.selfie_pending_file
    assert name and default_storage.exists(name)
    # A bug, or the last retry of a transient error: the task hands it over.
    fail_search(request.pk, name, RuntimeError("backend exploded at /srv/selfies/x.img"))
    request.refresh_from_db()
    assert request.state == "error" and request.selfie_pending_file == ""
    assert not default_storage.exists(name)
    event = request.events.order_by("pk").last()
    assert event.action == "job_failed" and "x.img" not in event.reason
    assert OutboundEmail.objects.filter(request=request, kind="dpo_job_failed").count() == 1


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
        record_event(request, actor="dpo", action="rejected", reason="Photo 2 shows your son")
    assert purge_personal_data() == 1
    # The DPO's free text leaves the audit trail too; the chain still verifies.
    assert not due.events.exclude(reason="").exists()
    assert recent.events.filter(reason="Photo 2 shows your son").exists()
    assert verify_chain().intact
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


def test_deadline_alerts_go_once_before_the_due_date_and_every_day_once_overdue():
    """The rule (subjects/core/deadlines.py): due soon and due tomorrow once
    per due date; overdue every day, once a day. Found broken by this test:
    the overdue alert's outbox key held only the due date, so the DPO was
    alerted on the first overdue day and never again (the second overdue
    day queued nothing); fixed in subjects/jobs/reminders.py."""
    request = make("alerts@example.org", state="awaiting_review", access=True,
                   received_at=timezone.make_aware(dt.datetime(2026, 1, 10, 12)))
    assert request.due_date == dt.date(2026, 2, 10)
    quiet = {"dpo_due_soon": 0, "dpo_due_tomorrow": 0, "dpo_overdue": 0}
    for today, kind, count in ((dt.date(2026, 2, 3), "dpo_due_soon", 1),
                               (dt.date(2026, 2, 9), "dpo_due_tomorrow", 1),
                               (dt.date(2026, 2, 11), "dpo_overdue", 1),
                               (dt.date(2026, 2, 12), "dpo_overdue", 2),
                               (dt.date(2026, 2, 13), "dpo_overdue", 3)):
        assert send_deadline_alerts(today=today) == {**quiet, kind: 1}, today
        assert send_deadline_alerts(today=today) == quiet  # once a day only
        assert OutboundEmail.objects.filter(request=request, kind=kind).count() == count
    overdue = OutboundEmail.objects.filter(request=request, kind="dpo_overdue").order_by("pk")
    assert [m.context["days_left"] for m in overdue] == [-1, -2, -3]
    assert send_deadline_alerts(today=dt.date(2026, 2, 5)) == quiet
    # A closed request gets no alert.
    RightsRequest.objects.filter(pk=request.pk).update(state="completed")
    OutboundEmail.objects.all().delete()
    assert send_deadline_alerts(today=dt.date(2026, 2, 12)) == quiet
