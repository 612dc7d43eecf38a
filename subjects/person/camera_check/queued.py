"""The check on a search worker: the web process stores a burst without
looking at its pictures (:func:`queue_burst`), a search worker runs the
rules on it (:func:`check_queued_burst`), and the page asks for the answer
(:func:`burst_answer`). No model runs in the web process."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from subjects.core.queueing import CHECK_BURST, queue_on_commit, send_now
from subjects.models import LivenessChallenge, RightsRequest
from subjects.person.camera_check.challenge import Outcome, open_challenge, signed_challenge
from subjects.person.camera_check.flow import Seen, check_burst, fail_burst
from subjects.person.camera_check.frames import check_frame_count, read_stored, store_queued
from subjects.person.camera_check.messages import MESSAGES, LivenessFailed, StepRefused
from subjects.person.camera_check.rules.timing import check_timing
from subjects.person.selfie import SelfieRejected, submit_selfie


def queue_burst(request: RightsRequest, token: str, step: int, data: list[bytes],
                *, arrived: dt.datetime | None = None) -> None:
    """Take the burst for pose ``step`` without looking at its pictures:
    the challenge, its timing and the count of frames are checked here, the
    frames stored, and a search worker runs the rules
    (:func:`check_queued_burst`); the page asks for the answer
    (:func:`burst_answer`). No model runs in the web process."""
    arrived = arrived or timezone.now()
    challenge = open_challenge(token, request, fresh=False)
    names: list[str] = []
    try:
        with transaction.atomic():
            challenge = LivenessChallenge.objects.select_for_update().get(pk=challenge.pk)
            if challenge.used_at is not None:
                raise StepRefused(MESSAGES["challenge_used"])
            if challenge.checking_step is not None:
                raise StepRefused()
            check_timing(challenge, step, arrived)
            check_frame_count(data)
            names = store_queued(data)
            LivenessChallenge.objects.filter(pk=challenge.pk).update(
                checking_step=step, checking_files=names, checking_since=arrived)
            queue_on_commit(CHECK_BURST, challenge.pk, step)
    except LivenessFailed as failure:
        fail_burst(challenge, step, data, None, failure)
        raise
    except Exception:
        for name in names:
            default_storage.delete(name)
        raise


def check_queued_burst(challenge_id: int, step: int) -> str:
    """On a search worker: the rules on a burst :func:`queue_burst` stored;
    after the last pose, the selfie handed to the search. Its files are
    deleted once the outcome is recorded. Nothing to do when it was checked
    already (a task delivered twice). A failure ends the challenge
    (``flow.fail_burst``); an error of the database propagates (the task is
    tried again, the files kept)."""
    seen = Seen()
    data: list[bytes] = []
    with transaction.atomic():
        # Only the challenge's row is locked while the model runs, not the
        # request's (pages that change the request do not wait for it).
        challenge = (LivenessChallenge.objects.select_for_update(of=("self",))
                     .select_related("request")
                     .filter(pk=challenge_id, checking_step=step, used_at__isnull=True).first())
        if challenge is None:
            return "nothing to check"
        names = list(challenge.checking_files)
        try:
            with transaction.atomic():
                data = [read_stored(name) for name in names]
                outcome = check_burst(challenge, step, data, challenge.checking_since, seen)
        except LivenessFailed as failure:
            fail_burst(challenge, step, data, seen, failure)
            result = failure.code
        else:
            result = "next pose"
            if outcome.selfie is not None:
                result = "passed"
                try:
                    submit_selfie(challenge.request, outcome.selfie, live=True,
                                  embedding=outcome.embedding)
                except SelfieRejected as rejected:
                    result = f"passed; {rejected.code}"  # searching already
    for name in names:
        default_storage.delete(name)
    return result


def give_up_check(challenge_id: int) -> None:
    """A burst no worker could check (an error retrying does not fix): the
    challenge ends, the person is asked to start again."""
    challenge = LivenessChallenge.objects.filter(pk=challenge_id, used_at__isnull=True).first()
    if challenge is not None:
        fail_burst(challenge, challenge.checking_step or 0, [], None,
                   LivenessFailed("check_error"))


def burst_answer(request: RightsRequest, token: str, step: int) -> Outcome | None:
    """What the page is told after sending the burst for ``step``: ``None``
    while a worker checks it; the next pose (revealed from now: its time
    runs from the moment the page is told); an ``Outcome`` with
    ``done=True`` once the whole check passed; ``LivenessFailed`` with its
    reason when it failed."""
    challenge = signed_challenge(token, request, fresh=False)
    if challenge.used_at is not None:
        if challenge.passed:
            return Outcome(done=True)
        raise LivenessFailed(challenge.failure)
    if challenge.checking_step == step:
        return None
    if challenge.revealed != step + 2:
        raise StepRefused(MESSAGES["frames_missing"])
    LivenessChallenge.objects.filter(pk=challenge.pk, revealed=step + 2,
                                     revealed_at__isnull=True).update(revealed_at=timezone.now())
    return Outcome(step=step + 1, pose=challenge.poses[step + 1])


def resume_stalled_checks(*, grace: dt.timedelta | None = None) -> int:
    """Queue again the bursts whose check was lost with its task (a worker
    killed, the broker down): waiting longer than ``grace`` (two sweeps)
    in a challenge still running."""
    if grace is None:
        grace = dt.timedelta(seconds=2 * settings.RECOVERY_SWEEP_SECONDS)
    stalled = LivenessChallenge.objects.filter(
        checking_step__isnull=False, used_at__isnull=True,
        checking_since__lt=timezone.now() - grace,
    ).values_list("pk", "checking_step")
    count = 0
    for challenge_id, step in stalled:
        send_now(CHECK_BURST, challenge_id, step)
        count += 1
    return count
