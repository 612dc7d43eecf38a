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
from subjects.core import events
from subjects.models import FrameFingerprint, LivenessBurst, LivenessChallenge
from subjects.person.camera_check.challenge import Outcome
from subjects.person.camera_check.evidence import of_bursts
from subjects.person.camera_check.fingerprints import dhash, face_hash, remember
from subjects.person.camera_check.frames import frame_changes, keep_burst, read_frames
from subjects.person.camera_check.measures import (
    chosen_frame,
    described,
    kept_face,
    measure_burst,
)
from subjects.person.camera_check.messages import LivenessFailed
from subjects.person.camera_check.rules.background import check_moves_against_background
from subjects.person.camera_check.rules.continuity import check_continuous
from subjects.person.camera_check.rules.copies import check_no_copies
from subjects.person.camera_check.rules.known_photo import check_not_known_photo
from subjects.person.camera_check.rules.one_face import check_one_face_each
from subjects.person.camera_check.rules.repeats import check_no_repeats_in_burst
from subjects.person.camera_check.rules.replay import (
    check_face_not_replayed,
    check_not_replayed,
)
from subjects.person.camera_check.rules.same_person import check_same_person
from subjects.person.camera_check.rules.scene import check_scene_kept, scene_histogram
from subjects.person.camera_check.rules.still import check_not_still
from subjects.person.camera_check.rules.timing import check_timing
from subjects.person.camera_check.rules.turns import check_turn_seen, check_turns


class Seen:
    """The fingerprints of a burst's frames, as far as they were computed
    (a failure keeps them too): whole-frame hashes, and face hashes once
    the faces were found."""

    def __init__(self) -> None:
        self.hashes: list[str] = []
        self.faces: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.hashes)


def check_burst(challenge: LivenessChallenge, step: int, data: list[bytes],
                arrived: dt.datetime, seen: Seen) -> Outcome:
    """Every rule on one burst of ``challenge`` (its row locked by the
    caller), in order; then the next pose revealed, or the whole capture
    checked. A burst sent twice is answered once (the row's lock); a
    failure ends the challenge (:func:`fail_burst`: recorded and audited,
    the frames fingerprinted whatever the outcome). The fingerprints are
    added to ``seen`` as soon as they are computed (a failure keeps them
    too)."""
    check_timing(challenge, step, arrived)
    images = read_frames(data)
    seen.hashes.extend(dhash(image) for image in images)
    check_not_replayed(data, seen.hashes, challenge)
    frames = check_one_face_each(data, images)
    faces = [(face_hash(f.image, f.face), face_hash(f.image, f.face, mirror=True))
             for f in frames]
    seen.faces.extend(face for face, _mirrored in faces)
    replay_bits = check_face_not_replayed(faces, challenge)
    pose = challenge.poses[step]
    chosen_index = chosen_frame([f.face.head_turn() for f in frames], pose,
                                [f.doubtful for f in frames])
    frames = described(frames, chosen_index)
    pick = frames[chosen_index]
    known = check_not_known_photo(pick.image, pick.face)
    check_no_repeats_in_burst(frames)
    changes = frame_changes(frames)
    check_not_still(frames, changes)
    check_continuous(frames, changes)
    measures = measure_burst(frames, pose, replay_bits, known)
    earlier = list(challenge.bursts.order_by("step"))
    kept = [kept_face(b) for b in earlier]
    check_same_person([f.face.embedding for f in frames if f.face.described],
                      [face.embedding for *_, face in kept])
    if pose != "straight":
        check_moves_against_background(measures["motion"])
        check_turn_seen(measures["turns"], pose)
    chosen = frames[measures["chosen"]]
    burst = keep_burst(challenge, step, pose, arrived, chosen, measures)
    try:
        return next_pose_or_result(challenge, step, data, seen, earlier, kept, burst, chosen)
    except LivenessFailed:
        default_storage.delete(burst.frame_file)  # its row is rolled back
        raise


def next_pose_or_result(challenge, step, data, seen, earlier, kept, burst, chosen) -> Outcome:
    remember(challenge, step, data, seen.hashes, seen.faces)
    if step + 1 < len(challenge.poses):
        # Revealed once the page has been told the pose (see
        # ``queued.burst_answer``). (``checking_since`` stays: the challenge
        # is not idle, for the purge, until the page was told.)
        LivenessChallenge.objects.filter(pk=challenge.pk).update(
            revealed=step + 2, revealed_at=None, checking_step=None, checking_files=[])
        return Outcome(step=step + 1, pose=challenge.poses[step + 1])
    shots = [*kept, (chosen.data, chosen.image, chosen.face)]
    bursts = [*earlier, burst]
    check_capture(bursts, shots)
    selfie, face = next((data, face) for (data, _image, face), b in zip(shots, bursts, strict=True)
                        if b.pose == "straight")
    finish(challenge, passed=True)
    return Outcome(selfie=selfie, embedding=[float(v) for v in face.embedding])


def check_capture(bursts: list[LivenessBurst], shots: list[tuple[bytes, np.ndarray, DetectedFace]]
                  ) -> None:
    """The rules on the whole capture: the kept frame of each burst, with
    its picture and face."""
    check_scene_kept([scene_histogram(image, face.box) for _data, image, face in shots])
    check_no_copies([(image, face) for _data, image, face in shots])
    check_turns({b.pose: b.measures["turns"][b.measures["chosen"]] for b in bursts})


def fail_burst(challenge: LivenessChallenge, step: int, data: list[bytes], seen: Seen | None,
               failure: LivenessFailed) -> None:
    """Record a failed burst: its frames fingerprinted (as far as they were
    read), the challenge ended with the failure's code (the page says it in
    its own language, ``messages.message_for``)."""
    with transaction.atomic():
        if seen:
            remember(challenge, step, data[:len(seen.hashes)], seen.hashes, seen.faces)
        finish(challenge, passed=False, code=failure.code)


def finish(challenge: LivenessChallenge, *, passed: bool, code: str = "") -> None:
    """End the challenge: recorded, audited when it failed, its fingerprints
    marked accepted or rejected, and its bursts deleted with their kept
    frames (no measure of a face outlives the check)."""
    queued = LivenessChallenge.objects.filter(pk=challenge.pk).values_list(
        "checking_files", flat=True).first() or []
    LivenessChallenge.objects.filter(pk=challenge.pk).update(
        used_at=timezone.now(), passed=passed, failure=code, failure_message="",
        checking_step=None, checking_files=[], checking_since=None,
        evidence=of_bursts(list(challenge.bursts.all())))
    for name in queued:
        default_storage.delete(name)
    FrameFingerprint.objects.filter(challenge=challenge).update(accepted=passed)
    if not passed:
        events.liveness_failed(challenge.request, code=code)
    forget_bursts([challenge.pk])


def forget_bursts(challenge_ids) -> None:
    """Delete the bursts of these challenges with their kept frames."""
    bursts = LivenessBurst.objects.filter(challenge__in=challenge_ids)
    for name in bursts.exclude(frame_file="").values_list("frame_file", flat=True):
        default_storage.delete(name)
    bursts.delete()
