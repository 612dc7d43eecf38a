"""The camera check stores no templates: a check run to its end, passed or
failed, and the request closed leave no face template, landmark list or
box of the person in any table, and no frame on disk."""

import datetime as dt
import re

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from subjects.core import tokens
from subjects.jobs.retention import expire_request
from subjects.models import LivenessBurst
from subjects.person.camera_check.challenge import POSES
from subjects.person.filing import withdraw_request
from tests.subjects import capture
from tests.subjects.helpers import challenge_of, live_capture, send_burst, verified_in
from tests.waiting import BURST_SECONDS, let_time_pass

pytestmark = pytest.mark.django_db

#: A list of 64 numbers or more: a face template (dlib's has 128).
TEMPLATE = re.compile(r"\[\s*(-?[\d.]+(e-?\d+)?\s*,\s*){63,}")
#: A JSON key for a face's measures (the bursts of earlier versions).
KEYS = re.compile(r'"(embeddings?|landmarks|box|scene)"\s*:')


def every_row() -> dict[str, list[str]]:
    """Every row of every table outside the face index (``search_``: the
    scraped faces), as JSON text, as the database would show it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                       "AND tablename NOT LIKE 'search\\_%'")
        tables = [name for (name,) in cursor.fetchall()]
        rows = {}
        for table in tables:
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608
            rows[table] = [text for (text,) in cursor.fetchall()]
    return rows


def new_files(before: set[str]) -> set[str]:
    """Frame files written since ``before`` (a test whose transaction is
    rolled back leaves the files of a check it did not finish)."""
    return set(files_under("liveness")) - before


def files_under(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    folders, files = default_storage.listdir(folder)
    return [f"{folder}/{f}" for f in files] + [
        name for sub in folders for name in files_under(f"{folder}/{sub}")]


def splice(bursts: dict) -> dict:
    """The first pose filmed of one person (a burst kept), the next of
    someone else: the check fails after a burst was kept."""
    return {pose: (lambda step, pose=pose: bursts[pose] if step == 0
                   else capture.photo_held_up("kit_harington_3.jpg")) for pose in POSES}


@pytest.mark.parametrize("outcome", ["passed", "failed"])
def test_a_check_to_its_end_and_the_request_closed_leave_no_template_or_frame(client, outcome):
    bursts = capture.passing_bursts()
    selfies_before = set(files_under("selfies"))
    frames_before = set(files_under("liveness"))
    request = verified_in(client, f"{outcome}.then.expires@example.org")
    response = live_capture(client, tokens.access_token(request),
                            bursts if outcome == "passed" else splice(bursts))
    if outcome == "passed":
        assert response.status_code == 200 and response.json()["done"] is True, response.content
    else:
        assert response.json()["code"] == "different_people"
    # Once the check ended, passed or failed, its bursts and frames are gone.
    assert not LivenessBurst.objects.exists()
    assert new_files(frames_before) == set()
    # The request runs out of time (searching: no worker runs in this
    # test; or still verified after the failure).
    assert expire_request(request, now=timezone.now() + dt.timedelta(days=365))

    found = {table: [row for row in rows if TEMPLATE.search(row) or KEYS.search(row)]
             for table, rows in every_row().items()}
    assert {table: rows for table, rows in found.items() if rows} == {}
    assert new_files(frames_before) == set()
    assert set(files_under("selfies")) <= selfies_before
    request.refresh_from_db()
    assert request.selfie_embedding is None
    assert not request.challenges.filter(used_at__isnull=True).exists()


def test_a_running_check_is_forgotten_when_the_request_closes(client):
    """A request withdrawn in the middle of a check: the burst kept so far,
    its frame and the unfinished challenge go."""
    frames_before = set(files_under("liveness"))
    request = verified_in(client, "withdraws.midway@example.org")
    token = tokens.access_token(request)
    challenge = challenge_of(client.get(f"/r/{token}/live/").content.decode())
    begun = client.post(f"/r/{token}/live/step/", {"challenge": challenge, "step": "begin"})
    let_time_pass(BURST_SECONDS, why="the server refuses a burst sent sooner")
    answer = send_burst(client, token, challenge, 0, capture.passing_bursts()[begun.json()["pose"]])
    assert answer.status_code == 200 and answer.json()["step"] == 1
    assert LivenessBurst.objects.count() == 1 and len(new_files(frames_before)) == 1
    request.refresh_from_db()
    withdraw_request(request)
    assert not LivenessBurst.objects.exists() and new_files(frames_before) == set()
    assert not request.challenges.exists()
