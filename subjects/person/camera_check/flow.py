"""The check of one burst, its rules in order (``rules``), then the next
pose revealed or the whole capture checked; and how a challenge ends,
passed or failed."""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from search.backends import DetectedFace
from search.imaging import load_image
from subjects.core import events
from subjects.models import FrameFingerprint, LivenessBurst, LivenessChallenge
from subjects.person.camera_check.challenge import Outcome
from subjects.person.camera_check.fingerprints import dhash, remember
from subjects.person.camera_check.frames import frame_changes, keep_burst, read_frames
from subjects.person.camera_check.measures import measure_burst
from subjects.person.camera_check.messages import LivenessFailed
from subjects.person.camera_check.rules.background import check_moves_against_background
from subjects.person.camera_check.rules.continuity import check_continuous
from subjects.person.camera_check.rules.copies import check_no_copies
from subjects.person.camera_check.rules.one_face import check_one_face_each
from subjects.person.camera_check.rules.repeats import check_no_repeats_in_burst
from subjects.person.camera_check.rules.replay import check_not_replayed
from subjects.person.camera_check.rules.same_person import check_same_person
from subjects.person.camera_check.rules.scene import check_scene_kept
from subjects.person.camera_check.rules.still import check_not_still
from subjects.person.camera_check.rules.timing import check_timing
from subjects.person.camera_check.rules.turns import check_turn_seen, check_turns


def check_burst(challenge: LivenessChallenge, step: int, data: list[bytes],
                arrived: dt.datetime, seen: list[str]) -> Outcome:
    """Every rule on one burst of ``challenge`` (its row locked by the
    caller), in order; then the next pose revealed, or the whole capture
    checked. A burst sent twice is answered once (the row's lock); a
    failure ends the challenge (:func:`fail_burst`: recorded and audited,
    the frames fingerprinted whatever the outcome). The fingerprints are
    added to ``seen`` as soon as they are computed (a failure keeps them
    too)."""
    check_timing(challenge, step, arrived)
    images = read_frames(data)
    seen.extend(dhash(image) for image in images)
    check_not_replayed(data, seen, challenge)
    frames = check_one_face_each(data, images)
    check_no_repeats_in_burst(frames)
    changes = frame_changes(frames)
    check_not_still(frames, changes)
    check_continuous(frames, changes)
    pose = challenge.poses[step]
    measures = measure_burst(frames, pose)
    earlier = list(challenge.bursts.order_by("step"))
    check_same_person([b.measures["embeddings"] for b in earlier] + [measures["embeddings"]])
    if pose != "straight":
        check_moves_against_background(measures["motion"])
        check_turn_seen(measures["turns"], pose)
    burst = keep_burst(challenge, step, pose, arrived, frames[measures["chosen"]], measures)
    try:
        return next_pose_or_result(challenge, step, data, seen, earlier, burst)
    except LivenessFailed:
        default_storage.delete(burst.frame_file)  # its row is rolled back
        raise


def next_pose_or_result(challenge, step, data, seen, earlier, burst) -> Outcome:
    remember(challenge, step, data, seen)
    if step + 1 < len(challenge.poses):
        # Revealed once the page has been told the pose (see
        # ``queued.burst_answer``). (``checking_since`` stays: the challenge
        # is not idle, for the purge, until the page was told.)
        LivenessChallenge.objects.filter(pk=challenge.pk).update(
            revealed=step + 2, revealed_at=None, checking_step=None, checking_files=[])
        return Outcome(step=step + 1, pose=challenge.poses[step + 1])
    selfie = check_capture([*earlier, burst])
    straight = next(b for b in [*earlier, burst] if b.pose == "straight")
    finish(challenge, passed=True)
    return Outcome(selfie=selfie,
                   embedding=straight.measures["embeddings"][straight.measures["chosen"]])


def check_capture(bursts: list[LivenessBurst]) -> bytes:
    """The rules on the whole capture; returns the straight frame."""
    chosen = []
    for burst in bursts:
        with default_storage.open(burst.frame_file, "rb") as handle:
            data = handle.read()
        m = burst.measures
        face = DetectedFace(box=m["box"], landmarks=m["landmarks"], score=0.0,
                            embedding=m["embeddings"][m["chosen"]])
        chosen.append((data, load_image(data), face))
    check_scene_kept([np.asarray(b.measures["scene"], dtype=np.float32) for b in bursts])
    check_no_copies([(image, face) for _data, image, face in chosen])
    check_turns({b.pose: b.measures["turns"][b.measures["chosen"]] for b in bursts})
    return next(data for (data, _i, _f), b in zip(chosen, bursts, strict=True)
                if b.pose == "straight")


def fail_burst(challenge: LivenessChallenge, step: int, data: list[bytes], seen: list[str],
               failure: LivenessFailed) -> None:
    """Record a failed burst: its frames fingerprinted (as far as they were
    read), the challenge ended with the failure's code (the page says it in
    its own language, ``messages.message_for``)."""
    with transaction.atomic():
        if seen:
            remember(challenge, step, data, seen)
        finish(challenge, passed=False, code=failure.code)


def finish(challenge: LivenessChallenge, *, passed: bool, code: str = "") -> None:
    """End the challenge: recorded, audited when it failed, its kept frames
    deleted, its fingerprints marked accepted or rejected."""
    queued = LivenessChallenge.objects.filter(pk=challenge.pk).values_list(
        "checking_files", flat=True).first() or []
    LivenessChallenge.objects.filter(pk=challenge.pk).update(
        used_at=timezone.now(), passed=passed, failure=code, failure_message="",
        checking_step=None, checking_files=[], checking_since=None)
    for name in queued:
        default_storage.delete(name)
    FrameFingerprint.objects.filter(challenge=challenge).update(accepted=passed)
    if not passed:
        events.liveness_failed(challenge.request, code=code)
    for name in challenge.bursts.exclude(frame_file="").values_list("frame_file", flat=True):
        default_storage.delete(name)
