import pytest
from django.db import connection

from portal.tasks import ping


@pytest.mark.worker
def test_a_real_worker_runs_a_task_through_the_broker_and_returns_its_result(
    transactional_db, celery_worker
):
    result = ping.delay()
    answer = result.get(timeout=60)
    assert answer["pong"] is True
    # The worker answered from the test database, not the demo's.
    assert answer["database"]["ok"] is True
    assert answer["database"]["name"] == connection.settings_dict["NAME"]
