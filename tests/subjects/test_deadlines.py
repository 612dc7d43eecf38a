"""Art. 12(3): one calendar month from receipt, one extension of up to two
months, decided before the first due date; pauses push the date out."""

import datetime as dt

import pytest
from django.utils import timezone

from subjects.core import deadlines, tokens
from subjects.core.deadlines import DueOn, add_months, due_date
from subjects.dpo import selectors
from subjects.models import RightsRequest
from subjects.person import intake
from subjects.review import decisions
from tests.subjects.dpo_helpers import make_request


@pytest.mark.parametrize(("received", "due"), [
    (dt.date(2026, 1, 31), dt.date(2026, 2, 28)),   # month end: 31 Jan gives 28 Feb
    (dt.date(2028, 1, 31), dt.date(2028, 2, 29)),   # leap year: 29 Feb
    (dt.date(2026, 1, 15), dt.date(2026, 2, 15)),
    (dt.date(2026, 3, 31), dt.date(2026, 4, 30)),
    (dt.date(2026, 12, 31), dt.date(2027, 1, 31)),  # over the year end
    (dt.date(2026, 2, 28), dt.date(2026, 3, 28)),
])
def test_due_one_calendar_month_after_receipt(received, due):
    assert due_date(received) == due


def test_an_extension_adds_calendar_months_from_receipt():
    assert due_date(dt.date(2026, 1, 31), extension_months=2) == dt.date(2026, 4, 30)
    assert due_date(dt.date(2027, 12, 31), extension_months=1) == dt.date(2028, 2, 29)
    with pytest.raises(ValueError):
        due_date(dt.date(2026, 1, 1), extension_months=3)


def test_paused_days_push_the_due_date():
    assert due_date(dt.date(2026, 1, 31), paused_days=3) == dt.date(2026, 3, 3)


def test_add_months_keeps_the_day_when_it_exists():
    assert add_months(dt.date(2026, 5, 17), 13) == dt.date(2027, 6, 17)


def filed(email: str, received: dt.datetime) -> RightsRequest:
    request = intake.start_request(email=email, language="en")
    request = intake.verify_email(tokens.verification_token(request))
    RightsRequest.objects.filter(pk=request.pk).update(state="awaiting_review", access=True,
                                                      received_at=received)
    request.refresh_from_db()
    return request


@pytest.mark.django_db
def test_the_dpo_extends_once_with_a_reason_before_the_first_due_date():
    received = timezone.make_aware(dt.datetime(2026, 1, 31, 10, 0))
    request = filed("ext.example@example.org", received)
    assert request.due_date == dt.date(2026, 2, 28)
    with pytest.raises(decisions.DecisionRefused, match="needs a reason"):
        decisions.extend_deadline(request, actor="dpo", months=2, reason=" ",
                                  ground="complexity", today=dt.date(2026, 2, 10))
    with pytest.raises(decisions.DecisionRefused, match="needs one of the grounds"):
        decisions.extend_deadline(request, actor="dpo", months=2, reason="Many photos",
                                  ground="", today=dt.date(2026, 2, 10))
    with pytest.raises(decisions.DecisionRefused, match="before the first due date"):
        decisions.extend_deadline(request, actor="dpo", months=2, reason="Many photos",
                                  ground="complexity", today=dt.date(2026, 3, 1))
    request = decisions.extend_deadline(request, actor="dpo", months=2, reason="Many photos",
                                        ground="complexity", today=dt.date(2026, 2, 10))
    assert request.due_date == dt.date(2026, 4, 30)
    assert request.events.filter(action="extended", reason="Many photos").exists()
    with pytest.raises(decisions.DecisionRefused, match="already been extended once"):
        decisions.extend_deadline(request, actor="dpo", months=1, reason="Again",
                                  ground="number", today=dt.date(2026, 2, 11))


@pytest.mark.django_db
def test_overdue_is_derived_from_the_due_date():
    old = timezone.now() - dt.timedelta(days=40)
    request = filed("late.example@example.org", old)
    assert request.is_overdue
    fresh = filed("fresh.example@example.org", timezone.now())
    assert not fresh.is_overdue


@pytest.mark.django_db
def test_asking_for_information_pauses_the_clock_and_the_pause_is_counted():
    request = filed("pause.example@example.org", timezone.now() - dt.timedelta(days=5))
    due = request.due_date
    request = decisions.ask_for_information(request, actor="dpo", question="Which photo?")
    assert request.state == "info_requested" and request.paused_since is not None
    RightsRequest.objects.filter(pk=request.pk).update(
        paused_since=timezone.now() - dt.timedelta(days=4))
    request.refresh_from_db()
    assert request.due_date == due + dt.timedelta(days=4)
    request = decisions.information_received(request, actor="dpo")
    assert request.state == "awaiting_review" and request.paused_days == 4
    assert request.due_date == due + dt.timedelta(days=4)


def stored(request: RightsRequest) -> dt.date | None:
    """The due date as the database stores it, read back."""
    return RightsRequest.objects.values_list("due_on", flat=True).get(pk=request.pk)


def current_in_sql(request: RightsRequest, now: dt.datetime) -> dt.date | None:
    """The stored due date plus a running pause, as the queue and the counts read it."""
    return selectors.with_due_dates(RightsRequest.objects.filter(pk=request.pk), now) \
        .values_list("due_now", flat=True).get()


@pytest.mark.django_db
def test_the_stored_due_date_equals_the_computed_one_across_filing_extension_and_pause():
    """``due_on`` (what the DPO's queue sorts and counts by, through an
    index) is kept by the state machine and the deadline functions: equal
    to ``request_due_date`` after filing, after an extension, while a pause
    runs (plus its days so far) and after it ends."""
    from subjects.person import filing

    request = intake.start_request(email="stored.due@example.org", language="en")
    request = intake.verify_email(tokens.verification_token(request))
    assert stored(request) is None and request.due_date is None
    RightsRequest.objects.filter(pk=request.pk).update(state="matches_ready")
    request.refresh_from_db()
    request = filing.file_request(request, kinds=["access"], keep_template="auto", decisions={})
    request.refresh_from_db()
    assert stored(request) == request.due_date == deadlines.request_due_date(request)
    first = request.due_date

    request = decisions.extend_deadline(request, actor="dpo", months=2, reason="Many photos",
                                        ground="complexity")
    request.refresh_from_db()
    assert request.due_date == deadlines.add_months(timezone.localdate(request.received_at), 3)
    assert request.due_date > first
    assert stored(request) == request.due_date

    request = decisions.ask_for_information(request, actor="dpo", question="Which photo?")
    assert stored(request) == request.due_date  # no day paused yet
    # Six days into the pause: the stored date stands, the current one moved.
    RightsRequest.objects.filter(pk=request.pk).update(
        paused_since=timezone.now() - dt.timedelta(days=6, hours=1))
    request.refresh_from_db()
    now = timezone.now()
    assert request.due_date == stored(request) + dt.timedelta(days=6)
    assert current_in_sql(request, now) == deadlines.request_due_date(request, now)
    request = decisions.information_received(request, actor="dpo")
    request.refresh_from_db()
    assert request.paused_days == 6
    assert stored(request) == request.due_date == deadlines.add_months(
        timezone.localdate(request.received_at), 3) + dt.timedelta(days=6)
    assert current_in_sql(request, timezone.now()) == request.due_date


@pytest.mark.django_db
def test_filing_again_after_a_new_search_keeps_the_first_receipt():
    from subjects.person import filing

    first = timezone.make_aware(dt.datetime(2026, 1, 31, 9, 0))
    request = filed("again.example@example.org", first)
    RightsRequest.objects.filter(pk=request.pk).update(state="matches_ready")
    request.refresh_from_db()
    request = filing.file_request(request, kinds=["access"], keep_template="auto", decisions={})
    assert request.received_at == first
    assert request.due_date == dt.date(2026, 2, 28)


@pytest.mark.django_db
def test_the_sql_due_date_equals_the_python_one_at_month_ends_with_extensions_and_pauses():
    """The two forms of the rule in subjects/core/deadlines.py: the ORM's
    ``DueOn`` (queue, counts, register) and the figures' raw SQL agree with
    ``RightsRequest.due_date`` in every case, a running pause included."""
    tz = timezone.get_current_timezone()
    now = timezone.now()
    cases = [
        dict(received_at=dt.datetime(2026, 1, 31, 10, tzinfo=tz)),
        dict(received_at=dt.datetime(2028, 1, 31, 23, 30, tzinfo=tz)),
        dict(received_at=dt.datetime(2026, 1, 31, 0, 15, tzinfo=tz), extension_months=2),
        dict(received_at=dt.datetime(2026, 12, 31, 12, tzinfo=tz), paused_days=4),
        dict(received_at=dt.datetime(2026, 3, 15, 12, tzinfo=tz),
             paused_since=now - dt.timedelta(days=6, hours=5)),
        # Overdue without the running pause, not overdue with it.
        dict(received_at=now - dt.timedelta(days=33), paused_since=now - dt.timedelta(days=9)),
        dict(received_at=now - dt.timedelta(days=40)),
    ]
    made = [make_request("awaiting_review", **fields) for fields in cases]
    annotated = dict(RightsRequest.objects.annotate(computed_due=DueOn(now))
                     .values_list("pk", "computed_due"))
    # The stored date plus the running pause, as the queue and counts read it.
    current = dict(selectors.with_due_dates(RightsRequest.objects.all(), now)
                   .values_list("pk", "due_now"))
    for request in made:
        assert current[request.pk] == request.due_date, request.received_at
    for request in made:
        assert annotated[request.pk] == request.due_date, request.received_at
    assert annotated[made[0].pk] == dt.date(2026, 2, 28)
    assert annotated[made[1].pk] == dt.date(2028, 2, 29)
    assert annotated[made[2].pk] == dt.date(2026, 4, 30)
    # The figures' SQL counts as overdue today exactly the requests the
    # Python rule says are overdue.
    today = timezone.localdate()
    [point] = [p for p in selectors.open_and_overdue(today=today, now=now) if p["day"] == today]
    received = [r for r in made if timezone.localdate(r.received_at) <= today]
    assert point["open"] == len(received) >= 4
    assert point["overdue"] == sum(1 for request in received if request.due_date < today) >= 2
