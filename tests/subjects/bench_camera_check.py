"""The camera check's benchmark driver (``bench/camera_check.py``): not
part of the default test run (its name does not start with ``test_``); run
it by name. Each bona fide capture and each splice runs on a database of
its own (a test each); the tries of one attack class share one (later tries
meet the fingerprints of earlier ones, as on a real portal). Writes
``docs/camera-check-bench.md`` after the last class."""

import collections
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from bench import camera_check as bench
from subjects.core import tokens
from subjects.person.camera_check.challenge import POSES
from tests.subjects import capture
from tests.subjects.helpers import ingest, live_capture, verified_in

pytestmark = pytest.mark.django_db

ATTACKS: dict[str, list[str]] = collections.defaultdict(list)
BONA_FIDE: dict[str, str] = {}


def outcome(response) -> str:
    if response.status_code == 200 and response.json().get("done"):
        return "passed"
    return response.json().get("code", str(response.status_code))


def attempt(bursts, n: int) -> str:
    client = Client()
    request = verified_in(client, f"bench.{n}@example.org")
    return outcome(live_capture(client, tokens.access_token(request), bursts))


@pytest.mark.parametrize("kind", bench.BONA_FIDE)
def test_bona_fide(kind):
    ingest("lin_manuel_miranda_1.png")
    BONA_FIDE[kind] = attempt(bench.bona_fide_bursts(kind), 0)


def test_puppet_from_one_press_photo():
    ingest(*bench.PUPPETS)
    for n in range(20):
        name = bench.PUPPETS[n % len(bench.PUPPETS)]
        ATTACKS["cut-out puppet from one scraped press photo (2-D turn)"].append(attempt(
            {pose: capture.puppet(name, pose, seed=100 + n) for pose in POSES}, n))


def test_replays_disguised():
    bursts = capture.passing_bursts()
    assert attempt(bursts, 999) == "passed"
    for n in range(20):
        kind = bench.REPLAYS[n % len(bench.REPLAYS)]
        swapped = {"left": "right", "right": "left"} if kind == "mirrored" else {}
        ATTACKS["replay shifted / rescaled / rotated / mirrored / re-encoded"].append(attempt(
            {swapped.get(pose, pose): capture.saved_again(capture.replayed(frames, kind), 80 + n)
             for pose, frames in bursts.items()}, n))


@pytest.mark.parametrize("other", bench.SPLICED)
def test_splice_of_two_people(other):
    bursts = capture.passing_bursts()
    ATTACKS["splice of two people"].append(attempt(
        {pose: (lambda step, pose=pose: bursts[pose] if step == 0
                else capture.photo_held_up(other, seed=7)) for pose in POSES}, 0))


def test_frames_posted_without_a_camera():
    for n, name in enumerate(bench.PUPPETS):
        ATTACKS["frames posted without a camera (photos as files)"].append(attempt(
            {pose: capture.still_repeated(name) for pose in POSES}, n))
        ATTACKS["frames posted without a camera (photos as files)"].append(attempt(
            {pose: capture.photo_on_a_stand(name, seed=n) for pose in POSES}, 100 + n))


def test_write_the_table():
    rows = [(name, len(results), results.count("passed"),
             ", ".join(f"`{code}` {count}" for code, count in
                       collections.Counter(r for r in results if r != "passed").most_common()))
            for name, results in ATTACKS.items()]
    text = bench.table(rows, list(BONA_FIDE.items()))
    (Path(settings.BASE_DIR) / "docs" / "camera-check-bench.md").write_text(text)
    print(text)
