"""Own-face assurance: a live capture that a photo of someone else cannot pass.

The server issues a signed, single-use challenge, valid for a few minutes,
asking for a short random sequence of poses (look straight, turn left, turn
right); the page captures one camera frame per pose. Each rule below is a
named function that returns nothing or raises :class:`LivenessFailed` with
its own reason.

What it defends against: a still photo of someone (it cannot turn its head
on cue), a photo shown mirrored or re-cropped or rescaled to fake a turn,
frames replayed from an earlier attempt. What it does not: a video of the
person turning their head, or a mask; it is no certified
presentation-attack detection (ISO/IEC 30107-3).

"Left" and "right" are the person's own: turning to their left moves the
nose towards the right of an unmirrored camera frame, which is a positive
``head_turn``.
"""

from __future__ import annotations

import datetime as dt
import secrets

import cv2
import numpy as np
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from search.backends import DetectedFace, get_backend
from search.imaging import load_image
from subjects.core import events
from subjects.models import LivenessChallenge, RightsRequest
from subjects.person.selfie import SelfieRejected, the_one_face

POSES = ("straight", "left", "right")
_SALT = "subjects.liveness"
#: head_turn below this (in inter-eye distances) counts as looking straight.
STRAIGHT_MAX = 0.06
#: A turn must reach this, in the asked direction.
TURN_MIN = 0.09
#: Aligned face pixels this alike are the same picture (copy, crop, rescale,
#: mirror): different live frames measured 0.12-0.66 on the test photos,
#: copies and mirrors 0.93-0.99.
SAME_PICTURE_MIN = 0.85

POSE_LABELS = {
    "straight": _("Look straight at the camera"),
    "left": _("Turn your head to your left"),
    "right": _("Turn your head to your right"),
}

MESSAGES = {
    "challenge_invalid": _("This check is not valid. Please start the camera check again."),
    "challenge_expired": _("This check took too long. Please start the camera check again."),
    "challenge_used": _("This check has already been used. Please start the camera check "
                        "again."),
    "frames_missing": _("We did not receive a photo for every pose. Please start the camera "
                        "check again."),
    "different_people": _("The photos do not all show the same person. Please take them all of "
                          "yourself."),
    "wrong_turn": _("Your head did not turn as asked. Please follow each instruction, turning "
                    "your head clearly, and try again."),
    "repeated_frame": _("The same photo was sent twice. Please take a new photo for each "
                        "instruction."),
    "mirrored_frame": _("One photo is a mirror image of another. Please take a new photo for "
                        "each instruction, turning your head."),
    "resized_frame": _("One photo is a cropped or resized copy of another. Please take a new "
                       "photo for each instruction."),
}


class LivenessFailed(Exception):
    def __init__(self, code: str, message=None):
        super().__init__(code)
        self.code = code
        self.message = message if message is not None else MESSAGES[code]


# -- the challenge -----------------------------------------------------------------


def issue_challenge(request: RightsRequest) -> tuple[LivenessChallenge, str]:
    """A new challenge for ``request``, and its signed token."""
    poses = list(POSES)
    secrets.SystemRandom().shuffle(poses)
    challenge = LivenessChallenge.objects.create(request=request, poses=poses)
    return challenge, challenge_token(challenge)


def challenge_token(challenge: LivenessChallenge) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(
        f"{challenge.request.reference}:{challenge.pk}:{challenge.nonce}")


def check_challenge(token: str, request: RightsRequest) -> LivenessChallenge:
    """Fresh, unused, this request's: and used from now on."""
    max_age = dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS)
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise LivenessFailed("challenge_expired") from None
    except signing.BadSignature:
        raise LivenessFailed("challenge_invalid") from None
    reference, challenge_id, nonce = (value.split(":") + ["", "", ""])[:3]
    if reference != request.reference:
        raise LivenessFailed("challenge_invalid")
    challenge = LivenessChallenge.objects.filter(pk=challenge_id, request=request,
                                                 nonce=nonce).first()
    if challenge is None:
        raise LivenessFailed("challenge_invalid")
    used = LivenessChallenge.objects.filter(pk=challenge.pk, used_at__isnull=True).update(
        used_at=timezone.now())
    if not used:
        raise LivenessFailed("challenge_used")
    challenge.refresh_from_db()
    return challenge


# -- the rules ----------------------------------------------------------------------


def check_one_face_each(frames: list[bytes], poses: list[str]) -> list[tuple[np.ndarray,
                                                                              DetectedFace]]:
    """Each frame holds exactly one usable face."""
    if len(frames) != len(poses) or not all(frames):
        raise LivenessFailed("frames_missing")
    found = []
    for number, data in enumerate(frames, start=1):
        try:
            face = the_one_face(data)
        except SelfieRejected as rejected:
            raise LivenessFailed(f"frame_{rejected.code}", _(
                "Photo %(number)d: %(problem)s") % {"number": number,
                                                   "problem": rejected.message}) from None
        found.append((load_image(data), face))
    return found


def check_same_person(faces: list[DetectedFace]) -> None:
    """Every pair of frames is the same person, within the model's strict
    (``match``) threshold."""
    backend = get_backend()
    for i, a in enumerate(faces):
        for b in faces[i + 1:]:
            if backend.distance(a.embedding, b.embedding) > backend.match_threshold:
                raise LivenessFailed("different_people")


def check_turns(faces: list[DetectedFace], poses: list[str]) -> None:
    """The head turns the way each prompt asked, and far enough."""
    turns = dict(zip(poses, (f.head_turn() for f in faces), strict=True))
    straight = turns.get("straight", 0.0)
    if abs(straight) > STRAIGHT_MAX:
        raise LivenessFailed("wrong_turn")
    for pose, sign in (("left", 1), ("right", -1)):
        if pose in turns and (sign * turns[pose] < TURN_MIN
                              or sign * (turns[pose] - straight) < TURN_MIN):
            raise LivenessFailed("wrong_turn")


def aligned_face(image: np.ndarray, face: DetectedFace, *, mirror: bool = False) -> np.ndarray:
    """The face warped by its eyes and nose onto a 64x64 grey canvas,
    normalised, so that the same picture gives the same pixels whatever its
    crop or scale."""
    points = np.array(face.landmarks[:3], dtype=np.float32)
    if mirror:
        image = image[:, ::-1]
        width = image.shape[1]
        left, right, nose = points
        points = np.array([[width - 1 - right[0], right[1]], [width - 1 - left[0], left[1]],
                           [width - 1 - nose[0], nose[1]]], dtype=np.float32)
    target = np.array([[22, 26], [42, 26], [32, 40]], dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(points, target)
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    warped = cv2.warpAffine(grey, matrix, (64, 64)).astype(np.float64)
    return (warped - warped.mean()) / (warped.std() + 1e-6)


def check_no_copies(frames: list[tuple[np.ndarray, DetectedFace]]) -> None:
    """No frame is a copy, mirror, crop or rescale of another."""
    straight = [aligned_face(image, face) for image, face in frames]
    mirrored = [aligned_face(image, face, mirror=True) for image, face in frames]
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            if frames[i][0].shape == frames[j][0].shape and np.array_equal(frames[i][0],
                                                                           frames[j][0]):
                raise LivenessFailed("repeated_frame")
            same = float((straight[i] * straight[j]).mean())
            mirror = float((mirrored[i] * straight[j]).mean())
            if mirror >= SAME_PICTURE_MIN and mirror > same:
                raise LivenessFailed("mirrored_frame")
            if same >= SAME_PICTURE_MIN:
                raise LivenessFailed("resized_frame")


# -- the whole check -------------------------------------------------------------------


def verify_live_capture(request: RightsRequest, token: str, frames: list[bytes]) -> bytes:
    """Run every rule; return the frame to search with (the straight one).
    The challenge is used up whatever the outcome."""
    challenge = check_challenge(token, request)
    try:
        captured = check_one_face_each(frames, challenge.poses)
        faces = [face for _, face in captured]
        check_no_copies(captured)
        check_same_person(faces)
        check_turns(faces, challenge.poses)
    except LivenessFailed as failure:
        with transaction.atomic():
            LivenessChallenge.objects.filter(pk=challenge.pk).update(passed=False,
                                                                     failure=failure.code)
            events.liveness_failed(request, code=failure.code)
        raise
    LivenessChallenge.objects.filter(pk=challenge.pk).update(passed=True)
    return frames[challenge.poses.index("straight")]
