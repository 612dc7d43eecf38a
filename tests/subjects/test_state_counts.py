"""The dashboard's counts per state come from ``StateCount``, which the
database keeps with triggers: whatever way requests are added, moved or
removed, the counts equal those of the requests themselves."""

from __future__ import annotations

import pytest
from django.db import connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count

from subjects.core import state_counts
from subjects.core.states import State
from subjects.core.transitions import transition
from subjects.dpo import selectors
from subjects.models import RightsRequest, StateCount
from tests.subjects.dpo_helpers import make_request


def counted_one_by_one() -> dict[str, int]:
    """What counting every request says."""
    return dict(RightsRequest.objects.values_list("state").annotate(n=Count("*")).order_by())


def bulk(count: int, state: str) -> None:
    RightsRequest.objects.bulk_create([
        RightsRequest(email=f"bulk.{state}.{n}@example.org", email_hash=f"{n:064d}", state=state)
        for n in range(count)])


@pytest.mark.django_db
def test_counts_per_state_follow_every_way_requests_are_added_moved_or_removed():
    checks = []

    def check(after: str) -> None:
        checks.append(after)
        assert state_counts.by_state() == counted_one_by_one(), after

    started = make_request("unverified", received_days_ago=None)  # an INSERT, then UPDATEs
    reviewed = make_request("awaiting_review")
    check("requests started and verified one by one")
    bulk(40, "expired")
    bulk(25, "completed")
    check("two bulk inserts")
    transition(reviewed, State.IN_PROGRESS, actor="dpo", action="approved")
    check("a transition of the state machine")
    moved = RightsRequest.objects.filter(
        pk__in=RightsRequest.objects.filter(state="expired").values("pk")[:15]
    ).update(state="withdrawn")
    assert moved == 15
    check("one UPDATE moving fifteen requests")
    RightsRequest.objects.filter(pk=started.pk).update(language="fr")
    check("an UPDATE that moves no request")
    RightsRequest.objects.filter(state="completed")[:1].get().delete()
    RightsRequest.objects.filter(state="withdrawn").delete()
    check("deletes, one and many")
    try:
        with transaction.atomic():
            bulk(7, "rejected")
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    check("an insert rolled back")
    rows_before = StateCount.objects.count()
    left = state_counts.compact()
    check("the fold")
    assert StateCount.objects.count() == left == len(counted_one_by_one()) < rows_before
    assert selectors.counts().by_state["expired"] == 25
    assert selectors.counts().by_state["completed"] == 24
    assert selectors.counts().by_state["withdrawn"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_fold_keeps_what_another_transaction_adds_while_it_runs():
    bulk(5, "completed")
    other = connections["default"].copy("other")
    try:
        with other.cursor() as cursor:
            # Another process moves two requests and has not committed yet.
            cursor.execute("BEGIN")
            cursor.execute("UPDATE subjects_rightsrequest SET state = 'withdrawn' WHERE id IN "
                           "(SELECT id FROM subjects_rightsrequest ORDER BY id LIMIT 2)")
            state_counts.compact()
            cursor.execute("COMMIT")
    finally:
        other.close()
    assert state_counts.by_state() == counted_one_by_one() == {"completed": 3, "withdrawn": 2}


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_requests_already_there():
    before = [("subjects", "0012_queue_index_needs_dpo_first")]
    after = [("subjects", "0013_state_counts_kept_by_triggers")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        # The requests as the table was before 0013 (later migrations add
        # columns the model of today has): the historical model writes them.
        old = executor.loader.project_state(before).apps.get_model("subjects", "RightsRequest")
        for count, state in ((30, "completed"), (4, "awaiting_review")):
            old.objects.bulk_create([
                old(email=f"bulk.{state}.{n}@example.org", email_hash=f"{n:064d}", state=state)
                for n in range(count)])
        MigrationExecutor(connection).migrate(after)
        assert state_counts.by_state() == {"completed": 30, "awaiting_review": 4}
    finally:
        # Every later test needs the tables as the last migration leaves them.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    bulk(2, "awaiting_review")
    assert state_counts.by_state() == counted_one_by_one() == {"completed": 30,
                                                               "awaiting_review": 6}


@pytest.mark.django_db
def test_beat_folds_the_counts_every_five_minutes(settings):
    from subjects import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["compact-state-counts"]
    assert entry["task"] == tasks.compact_state_counts.name and entry["schedule"] == 300.0
    for state in ("expired", "completed", "expired"):
        bulk(3, state)
    assert StateCount.objects.count() == 3
    assert tasks.compact_state_counts.apply().get() == 2 == StateCount.objects.count()
    assert state_counts.by_state() == {"expired": 6, "completed": 3}
