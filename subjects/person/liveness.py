"""Own-face assurance: a short live capture that photos of someone cannot pass.

The server issues a signed, single-use challenge, valid for a few minutes,
holding a random order of three poses (look straight, turn left, turn
right). It reveals each pose only once the previous one has arrived, and
each must arrive within ``LIVENESS_POSE_SECONDS`` of being revealed,
measured here. For each pose the page sends a *burst*: six frames taken
over about a second from the moment the pose is shown. Each rule below is
a named function that returns nothing or raises :class:`LivenessFailed`
with its own reason:

- on each burst, as it arrives: :func:`check_timing`,
  :func:`check_not_replayed`, :func:`check_one_face_each`,
  :func:`check_no_repeats_in_burst`, :func:`check_not_still`,
  :func:`check_continuous`, :func:`check_same_person`, and for a turn
  :func:`check_moves_against_background` and :func:`check_turn_seen`;
- on the whole capture: :func:`check_scene_kept`, :func:`check_no_copies`,
  :func:`check_turns`.

What it defends against: still photos of someone, printed or on a screen,
sent as files or held up to the camera, shaken, zoomed or tilted (the face
and its surroundings move as one piece, and its head never turns while
the camera runs); three different photos of one person for the three
poses; cuts between pictures; mirrored, cropped or rescaled copies; frames
replayed from any earlier challenge; poses answered before they were
shown. What it does not: a video of the person turning their head (a
recording, or a rendered or deep-faked feed injected as the camera), a
mask or a 3-D model. It is no certified presentation-attack detection
(ISO/IEC 30107-3).

Every threshold was measured on a real video of a person turning his head
(``short_hamilton_clip.mp4`` of the face_recognition project, cut into
bursts as the page takes them: six frames 0.2 s apart, the stage around
the performer at 640x480) and on the attacks made from the test photos
(``tests/subjects/capture.py``); the figures are beside each constant.

"Left" and "right" are the person's own: turning to their left moves the
nose towards the right of an unmirrored camera frame, which is a positive
``head_turn``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import secrets
import uuid

import cv2
import numpy as np
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from pgvector.django import HammingDistance

from search.backends import DetectedFace, get_backend
from search.imaging import load_image
from subjects.core import events
from subjects.core.queueing import CHECK_BURST, queue_on_commit, send_now
from subjects.models import FrameFingerprint, LivenessBurst, LivenessChallenge, RightsRequest
from subjects.person.selfie import SelfieRejected, one_face_in, read_image, submit_selfie

logger = logging.getLogger(__name__)

POSES = ("straight", "left", "right")
_SALT = "subjects.liveness"
FRAME_DIR = "liveness"

#: Frames the page sends per pose, 0.2 s apart; the server takes 4 to 10.
BURST_FRAMES = 6
MIN_BURST_FRAMES = 4
MAX_BURST_FRAMES = 10
#: A burst takes about a second to capture from the moment its pose is
#: shown: one that arrives sooner was taken before the pose was revealed.
MIN_ANSWER_SECONDS = 0.8

#: head_turn below this (in inter-eye distances) counts as looking straight.
#: The straight frames of the video: 0.001-0.047 (as JPEG from the camera).
STRAIGHT_MAX = 0.06
#: A turn must reach this, in the asked direction, from 0 and from the
#: straight frame. The video's turns reach 0.099 (left, as JPEG; 0.131 in
#: the raw frame) and -0.317 (right); the test photos 0.19 either way.
TURN_MIN = 0.08
#: ... and must be seen happening while the camera runs: within a turn's
#: burst, from its first frame to its farthest. The video's turn bursts:
#: 0.103 (left), 0.145 (right); a photo held up and shaken: 0.013-0.034.
TURN_SEEN_MIN = 0.06
#: Aligned face pixels this alike are the same picture (copy, crop, rescale,
#: mirror): different live frames measured 0.12-0.66 on the test photos,
#: copies and mirrors 0.93-0.99.
SAME_PICTURE_MIN = 0.85
#: Mean absolute difference (grey levels) of 80x60 thumbnails of two
#: consecutive frames of a burst. Below STILL_MAX for every pair, nothing
#: moved at all (a still sent again with camera noise measures 0.3); above
#: CUT_MIN, one picture was swapped for another: the video measured at most
#: 26.0 (a stage camera panning), a photo shaken by hand at most 18.7, a
#: swap between two photos held up 42.8-48.0.
STILL_MAX = 0.8
CUT_MIN = 35.0
#: The face's centre may move this far between two frames (in face widths;
#: the video: at most 0.43), and its size change by this factor (1.2).
JUMP_MAX = 0.75
RESIZE_MAX = 1.5
#: How far the face's landmarks moved against the motion of their
#: surroundings (in inter-eye distances, summed over a burst), in a turn's
#: burst. The video's bursts: 1.12-4.08; photos held up and shaken, zoomed
#: and tilted: 0.044-0.060; a still: 0. A turn of TURN_SEEN_MIN alone moves
#: the nose about that far against the head's outline.
RELATIVE_MOTION_MIN = 0.10
#: Bhattacharyya distance of the colour histograms of the scene around the
#: face, pose to pose. The video (one stage, its camera panning, frames up
#: to 4 s apart): 0.20-0.34; the three test photos held up in one room:
#: 0.46-0.50; the photos themselves: 0.63-0.66.
SCENE_MAX = 0.40
#: Two frames whose 256-bit difference hashes differ in at most this many
#: bits are one frame: a frame saved again as JPEG or rescaled measured
#: 0-4, two video frames 0.2 s apart 44-149.
REPLAY_MAX_BITS = 8

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
    "frames_missing": _("We did not receive the short video for this instruction. Please start "
                        "the camera check again."),
    "too_early": _("The video for this instruction arrived before it could have been taken. "
                   "Please start the camera check again and follow each instruction as it "
                   "appears."),
    "too_late": _("The video for this instruction arrived too late. Please start the camera "
                  "check again and follow each instruction as it appears."),
    "replayed_frames": _("These camera pictures were already sent in an earlier check. Please "
                         "start the camera check again in front of your camera."),
    "repeated_frame": _("The same photo was sent twice. Please take a new photo for each "
                        "instruction."),
    "still_burst": _("Nothing moved in front of the camera. Please start the camera check again "
                     "and turn your head as asked, in front of your camera."),
    "burst_cut": _("The camera pictures jump from one scene to another. Please start the camera "
                   "check again and keep your face in view."),
    "moved_as_one_piece": _("Your face moved only together with everything around it, as a photo "
                            "or a screen held up to the camera does. Please start the camera "
                            "check again and turn your own head as asked."),
    "scene_changed": _("The scene around your face changed from one instruction to the next. "
                       "Please stay in one place and start the camera check again."),
    "different_people": _("The photos do not all show the same person. Please take them all of "
                          "yourself."),
    "wrong_turn": _("Your head did not turn as asked. Please follow each instruction, turning "
                    "your head clearly, and try again."),
    "turn_not_seen": _("We did not see your head turn while the camera was running. Please start "
                       "the camera check again and turn your head when each instruction "
                       "appears."),
    "mirrored_frame": _("One photo is a mirror image of another. Please take a new photo for "
                        "each instruction, turning your head."),
    "resized_frame": _("One photo is a cropped or resized copy of another. Please take a new "
                       "photo for each instruction."),
}

#: Refusals that leave the check running: a double submit, say.
STEP_DONE = _("This instruction was already answered. Please go on with the camera check.")


class LivenessFailed(Exception):
    def __init__(self, code: str, message=None):
        super().__init__(code)
        self.code = code
        self.message = message if message is not None else MESSAGES[code]


class StepRefused(Exception):
    """A post that does not count (sent twice); the check goes on."""

    def __init__(self, message=STEP_DONE):
        super().__init__(str(message))
        self.message = message


@dataclasses.dataclass
class Frame:
    data: bytes
    image: np.ndarray  # RGB
    face: DetectedFace


@dataclasses.dataclass
class Outcome:
    """What the page does next: show ``pose``, or (``selfie`` set) the
    check passed and ``selfie`` is the straight frame to search with."""

    step: int | None = None
    pose: str | None = None
    selfie: bytes | None = None
    #: The face template of ``selfie``, as the check computed it (the
    #: search worker does not run the model again).
    embedding: list[float] | None = None
    #: The check passed and its selfie was handed to the search (a check
    #: run by a worker).
    done: bool = False


# -- the challenge -----------------------------------------------------------------


def issue_challenge(request: RightsRequest) -> tuple[LivenessChallenge, str]:
    """A new challenge for ``request``, and its signed token. Its poses
    stay on the server until each is revealed."""
    poses = list(POSES)
    secrets.SystemRandom().shuffle(poses)
    challenge = LivenessChallenge.objects.create(request=request, poses=poses)
    return challenge, challenge_token(challenge)


def challenge_token(challenge: LivenessChallenge) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(
        f"{challenge.request.reference}:{challenge.pk}:{challenge.nonce}")


def open_challenge(token: str, request: RightsRequest, *, fresh: bool = True
                   ) -> LivenessChallenge:
    """The challenge a token names: signed, this request's and not finished
    (passed or failed); ``fresh``: issued within ``LIVENESS_CHALLENGE_SECONDS``
    (to begin it; once begun, each pose has its own deadline, and the time
    a burst waits for a worker is the portal's, not the person's)."""
    challenge = signed_challenge(token, request, fresh=fresh)
    if challenge.used_at is not None:
        raise LivenessFailed("challenge_used")
    return challenge


def signed_challenge(token: str, request: RightsRequest, *, fresh: bool = True
                     ) -> LivenessChallenge:
    """The challenge a token names: signed, this request's, and fresh if asked."""
    max_age = dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS) if fresh else None
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise LivenessFailed("challenge_expired") from None
    except signing.BadSignature:
        raise LivenessFailed("challenge_invalid") from None
    reference, challenge_id, nonce = (value.split(":") + ["", "", ""])[:3]
    if reference != request.reference or not challenge_id.isdigit():
        raise LivenessFailed("challenge_invalid")
    challenge = LivenessChallenge.objects.filter(pk=challenge_id, request=request,
                                                 nonce=nonce).first()
    if challenge is None:
        raise LivenessFailed("challenge_invalid")
    return challenge


def begin(request: RightsRequest, token: str) -> Outcome:
    """Reveal the first pose (once per challenge)."""
    challenge = open_challenge(token, request)
    started = LivenessChallenge.objects.filter(pk=challenge.pk, revealed=0,
                                               used_at__isnull=True).update(
        revealed=1, revealed_at=timezone.now())
    if not started:
        raise LivenessFailed("challenge_used")
    return Outcome(step=0, pose=challenge.poses[0])


# -- the rules on one burst --------------------------------------------------------


def check_timing(challenge: LivenessChallenge, step: int, arrived: dt.datetime) -> None:
    """The burst answers the pose revealed last, not one still hidden, and
    arrived no sooner than a burst takes to capture and no later than the
    pose's deadline, measured on the server."""
    if step >= challenge.revealed or challenge.revealed_at is None:
        raise LivenessFailed("too_early")
    if step < challenge.revealed - 1:
        raise StepRefused()
    elapsed = (arrived - challenge.revealed_at).total_seconds()
    if elapsed < MIN_ANSWER_SECONDS:
        raise LivenessFailed("too_early")
    if elapsed > settings.LIVENESS_POSE_SECONDS:
        raise LivenessFailed("too_late")


def dhash(image: np.ndarray) -> str:
    """A 256-bit difference hash of the picture (16x16 brightness steps),
    as a string of bits."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (17, 16), interpolation=cv2.INTER_AREA).astype(np.int16)
    return "".join("1" if bit else "0" for bit in (small[:, 1:] > small[:, :-1]).ravel())


def check_not_replayed(data: list[bytes], hashes: list[str],
                       challenge: LivenessChallenge) -> None:
    """No frame was sent in an earlier challenge (of any request): not the
    same file, and not the same picture saved again, for most of a burst
    whose frames differ among themselves (a still scene gives alike frames
    to anyone; a still burst fails :func:`check_not_still`)."""
    earlier = FrameFingerprint.objects.exclude(challenge=challenge)
    digests = [hashlib.sha256(frame).hexdigest() for frame in data]
    if earlier.filter(sha256__in=digests).exists():
        raise LivenessFailed("replayed_frames")
    moving = any(_bits_apart(a, b) > REPLAY_MAX_BITS
                 for a, b in zip(hashes, hashes[1:], strict=False))
    if not moving:
        return
    seen = sum(
        earlier.annotate(bits=HammingDistance("dhash", bits)).filter(
            bits__lte=REPLAY_MAX_BITS).exists()
        for bits in hashes
    )
    if seen * 2 >= len(hashes):
        raise LivenessFailed("replayed_frames")


def _bits_apart(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def check_one_face_each(data: list[bytes], images: list[np.ndarray]) -> list[Frame]:
    """Each frame holds exactly one usable face."""
    frames = []
    for number, (frame, image) in enumerate(zip(data, images, strict=True), start=1):
        try:
            face = one_face_in(image)
        except SelfieRejected as rejected:
            raise LivenessFailed(f"frame_{rejected.code}", _frame_problem(number, rejected)
                                 ) from None
        frames.append(Frame(frame, image, face))
    return frames


def thumbnail(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (80, 60), interpolation=cv2.INTER_AREA).astype(np.float32)


def frame_changes(frames: list[Frame]) -> list[float]:
    """Mean absolute difference of consecutive frames' thumbnails."""
    thumbs = [thumbnail(f.image) for f in frames]
    return [float(np.mean(np.abs(b - a))) for a, b in zip(thumbs, thumbs[1:], strict=False)]


def check_no_repeats_in_burst(frames: list[Frame]) -> None:
    """No frame of a burst is another frame sent again."""
    digests = [hashlib.sha256(f.image.tobytes()).hexdigest() for f in frames]
    if len(set(digests)) < len(digests):
        raise LivenessFailed("repeated_frame")


def check_not_still(frames: list[Frame], changes: list[float]) -> None:
    """Something moves: a still sent again and again, even with fresh
    camera noise, is not a person in front of a camera."""
    if max(changes) < STILL_MAX:
        raise LivenessFailed("still_burst")


def check_continuous(frames: list[Frame], changes: list[float]) -> None:
    """One unbroken piece of video: the same picture size, small changes
    from frame to frame, and the face moving smoothly (no jump of place or
    size). A cut from one photo to another breaks it."""
    if len({f.image.shape for f in frames}) != 1 or max(changes) > CUT_MIN:
        raise LivenessFailed("burst_cut")
    for a, b in zip(frames, frames[1:], strict=False):
        (ax, ay), (bx, by) = a.face.center, b.face.center
        width = max(a.face.box[2], 1)
        if np.hypot(bx - ax, by - ay) > JUMP_MAX * width:
            raise LivenessFailed("burst_cut")
        if max(a.face.size, b.face.size) > RESIZE_MAX * min(a.face.size, b.face.size):
            raise LivenessFailed("burst_cut")


def check_same_person(bursts: list[list[np.ndarray]]) -> None:
    """One person throughout: every frame near the mean face of its burst,
    and the bursts' mean faces near each other, within the model's strict
    (``match``) threshold. (Single frames of one person turning away can be
    farther apart than that: the video's were up to 0.62 with dlib; to
    their burst's mean at most 0.37, burst to burst at most 0.24.)"""
    backend = get_backend()
    means = []
    for embeddings in bursts:
        mean = np.mean(np.asarray(embeddings, dtype=np.float32), axis=0)
        if any(backend.distance(e, mean) > backend.match_threshold for e in embeddings):
            raise LivenessFailed("different_people")
        means.append(mean)
    for i, a in enumerate(means):
        for b in means[i + 1:]:
            if backend.distance(a, b) > backend.match_threshold:
                raise LivenessFailed("different_people")


def relative_motion(frames: list[Frame]) -> float:
    """How far the face's landmarks moved against their surroundings over a
    burst, in inter-eye distances: between consecutive frames, the motion of
    the picture around the face (tracked corners in a ring around it,
    fitted with a similarity transform) predicts where the eyes and nose
    would be if the face were painted on it; this adds up how far they are
    from there. A photo or a screen moves as one piece with the face on it:
    near 0."""
    total = 0.0
    for a, b in zip(frames, frames[1:], strict=False):
        grey_a = cv2.cvtColor(np.ascontiguousarray(a.image), cv2.COLOR_RGB2GRAY)
        grey_b = cv2.cvtColor(np.ascontiguousarray(b.image), cv2.COLOR_RGB2GRAY)
        if grey_a.shape != grey_b.shape:
            continue
        points_a = np.array(a.face.landmarks[:3], dtype=np.float32)
        points_b = np.array(b.face.landmarks[:3], dtype=np.float32)
        eyes = float(np.hypot(*(points_a[1] - points_a[0]))) or 1.0
        corners = cv2.goodFeaturesToTrack(grey_a, 200, 0.01, 5, mask=_ring(grey_a, a.face))
        if corners is None or len(corners) < 8:
            continue
        moved, status, _err = cv2.calcOpticalFlowPyrLK(grey_a, grey_b, corners, None,
                                                       winSize=(15, 15), maxLevel=2)
        found = status.ravel() == 1
        if found.sum() < 8:
            continue
        matrix, _inliers = cv2.estimateAffinePartial2D(
            corners.reshape(-1, 2)[found], moved.reshape(-1, 2)[found], method=cv2.RANSAC,
            ransacReprojThreshold=1.0)
        if matrix is None:
            continue
        predicted = points_a @ matrix[:, :2].T + matrix[:, 2]
        total += float(np.mean(np.linalg.norm(predicted - points_b, axis=1))) / eyes
    return total


def _ring(grey: np.ndarray, face: DetectedFace) -> np.ndarray:
    """The face's surroundings: a square of 2.6 face widths around its
    centre, without the face itself."""
    mask = np.zeros(grey.shape, dtype=np.uint8)
    (cx, cy), width = face.center, face.box[2]
    outer, inner = 1.3 * width, 0.75 * width
    cv2.rectangle(mask, (int(cx - outer), int(cy - outer)), (int(cx + outer), int(cy + outer)),
                  255, -1)
    cv2.rectangle(mask, (int(cx - inner), int(cy - inner)),
                  (int(cx + inner), int(cy + 1.2 * inner)), 0, -1)
    return mask


def chosen_frame(turns: list[float], pose: str) -> int:
    """The frame that shows the pose best: the most frontal one for
    "straight", the farthest turned the asked way for a turn."""
    if pose == "straight":
        return int(np.argmin(np.abs(turns)))
    sign = 1 if pose == "left" else -1
    return int(np.argmax([sign * t for t in turns]))


# -- the rules on the whole capture ----------------------------------------------------


def check_moves_against_background(motion: float) -> None:
    """In a turn's burst the face moves on its own, against its surroundings
    (:func:`relative_motion`): a photo or screen held up to the camera,
    shaken or zoomed, moves as one piece with everything on it."""
    if motion < RELATIVE_MOTION_MIN:
        raise LivenessFailed("moved_as_one_piece")


def check_turn_seen(turns: list[float], pose: str) -> None:
    """In a turn's burst the head turns the asked way while the camera
    runs, from its first frame to its farthest, and far enough: the camera
    starts when the pose is shown, before a person can have turned."""
    sign = 1 if pose == "left" else -1
    farthest = max(sign * t for t in turns)
    if farthest < TURN_MIN:
        raise LivenessFailed("wrong_turn")
    if farthest - sign * turns[0] < TURN_SEEN_MIN:
        raise LivenessFailed("turn_not_seen")


def scene_histogram(image: np.ndarray, face_box) -> np.ndarray:
    """Hue and saturation of the picture without the person (the face and
    everything below it)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    mask = np.full(image.shape[:2], 255, dtype=np.uint8)
    left, top, width, height = face_box
    cv2.rectangle(mask, (int(left - width / 4), int(top - height / 4)),
                  (int(left + width * 1.25), image.shape[0]), 0, -1)
    histogram = cv2.calcHist([hsv], [0, 1], mask, [30, 32], [0, 180, 0, 256])
    return cv2.normalize(histogram, histogram).flatten()


def check_scene_kept(histograms: list[np.ndarray]) -> None:
    """The scene around the face stays the same from pose to pose: one
    person turning in one place, not three pictures."""
    for i, a in enumerate(histograms):
        for b in histograms[i + 1:]:
            if cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) > SCENE_MAX:
                raise LivenessFailed("scene_changed")


def check_turns(turns: dict[str, float]) -> None:
    """The head turns the way each prompt asked, far enough from 0 and from
    the straight pose, and looks straight when asked."""
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


# -- the whole check, one burst at a time ------------------------------------------------


def measure_burst(frames: list[Frame], pose: str) -> dict:
    """What the capture-wide rules need of a burst, as JSON."""
    turns = [f.face.head_turn() for f in frames]
    chosen = chosen_frame(turns, pose)
    face = frames[chosen].face
    return {
        "turns": [round(t, 4) for t in turns],
        "embeddings": [[float(v) for v in f.face.embedding] for f in frames],
        "motion": round(relative_motion(frames), 4),
        "chosen": chosen,
        "box": list(face.box),
        "landmarks": [list(p) for p in face.landmarks],
        "scene": [float(v) for v in scene_histogram(frames[chosen].image, face.box)],
    }


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
        # :func:`burst_answer`). (``checking_since`` stays: the challenge is
        # not idle, for the purge, until the page was told.)
        LivenessChallenge.objects.filter(pk=challenge.pk).update(
            revealed=step + 2, revealed_at=None, checking_step=None, checking_files=[])
        return Outcome(step=step + 1, pose=challenge.poses[step + 1])
    selfie = check_capture([*earlier, burst])
    straight = next(b for b in [*earlier, burst] if b.pose == "straight")
    finish(challenge, passed=True)
    return Outcome(selfie=selfie,
                   embedding=straight.measures["embeddings"][straight.measures["chosen"]])


def fail_burst(challenge: LivenessChallenge, step: int, data: list[bytes], seen: list[str],
               failure: LivenessFailed) -> None:
    """Record a failed burst: its frames fingerprinted (as far as they were
    read), the challenge ended with the failure's reason and sentence."""
    with transaction.atomic():
        if seen:
            remember(challenge, step, data, seen)
        message = ""
        if failure.code not in MESSAGES:
            with translation.override(challenge.request.language):
                message = str(failure.message)
        finish(challenge, passed=False, code=failure.code, message=message)


# -- the check on a search worker --------------------------------------------------------

#: Where a burst waits for its worker (readable only by the portal's user,
#: deleted once checked, or with its challenge when that runs out).
QUEUED_DIR = f"{FRAME_DIR}/queued"
#: What the person is told when no answer can be given for a step.
CHECK_ERROR = _("We could not finish checking your camera pictures. Please start the camera "
                "check again.")


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
            names = [default_storage.save(f"{QUEUED_DIR}/{uuid.uuid4().hex}.img",
                                          ContentFile(frame)) for frame in data]
            LivenessChallenge.objects.filter(pk=challenge.pk).update(
                checking_step=step, checking_files=names, checking_since=arrived)
            queue_on_commit(CHECK_BURST, challenge.pk, step)
    except LivenessFailed as failure:
        fail_burst(challenge, step, data, [], failure)
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
    (:func:`fail_burst`); an error of the database propagates (the task is
    tried again, the files kept)."""
    seen: list[str] = []
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
                data = [_read_stored(name) for name in names]
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


def _read_stored(name: str) -> bytes:
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise LivenessFailed("frames_missing") from None


def give_up_check(challenge_id: int) -> None:
    """A burst no worker could check (an error retrying does not fix): the
    challenge ends, the person is asked to start again."""
    challenge = LivenessChallenge.objects.filter(pk=challenge_id, used_at__isnull=True).first()
    if challenge is not None:
        fail_burst(challenge, challenge.checking_step or 0, [], [],
                   LivenessFailed("check_error", CHECK_ERROR))


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
        raise LivenessFailed(challenge.failure,
                             challenge.failure_message or MESSAGES.get(challenge.failure,
                                                                       CHECK_ERROR))
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


def check_frame_count(data: list[bytes]) -> None:
    if not MIN_BURST_FRAMES <= len(data) <= MAX_BURST_FRAMES or not all(data):
        raise LivenessFailed("frames_missing")


def read_frames(data: list[bytes]) -> list[np.ndarray]:
    """Enough frames, each a picture we can read."""
    check_frame_count(data)
    images = []
    for number, frame in enumerate(data, start=1):
        try:
            images.append(read_image(frame))
        except SelfieRejected as rejected:
            raise LivenessFailed(f"frame_{rejected.code}", _frame_problem(number, rejected)
                                 ) from None
    return images


def _frame_problem(number: int, rejected: SelfieRejected):
    return _("Photo %(number)d: %(problem)s") % {"number": number, "problem": rejected.message}


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


def keep_burst(challenge, step, pose, arrived, frame: Frame, measures) -> LivenessBurst:
    name = default_storage.save(f"{FRAME_DIR}/{uuid.uuid4().hex}.img", ContentFile(frame.data))
    return LivenessBurst.objects.create(
        challenge=challenge, step=step, pose=pose, revealed_at=challenge.revealed_at,
        received_at=arrived, frame_file=name, measures=measures)


def remember(challenge: LivenessChallenge, step: int, data: list[bytes],
             hashes: list[str]) -> None:
    """Fingerprint the frames (kept for the retention period)."""
    FrameFingerprint.objects.bulk_create([
        FrameFingerprint(challenge=challenge, step=step,
                         sha256=hashlib.sha256(frame).hexdigest(), dhash=bits)
        for frame, bits in zip(data, hashes, strict=True)
    ])


def finish(challenge: LivenessChallenge, *, passed: bool, code: str = "",
           message: str = "") -> None:
    """End the challenge: recorded, audited when it failed, its kept frames
    deleted, its fingerprints marked accepted or rejected."""
    queued = LivenessChallenge.objects.filter(pk=challenge.pk).values_list(
        "checking_files", flat=True).first() or []
    LivenessChallenge.objects.filter(pk=challenge.pk).update(
        used_at=timezone.now(), passed=passed, failure=code, failure_message=message,
        checking_step=None, checking_files=[], checking_since=None)
    for name in queued:
        default_storage.delete(name)
    FrameFingerprint.objects.filter(challenge=challenge).update(accepted=passed)
    if not passed:
        events.liveness_failed(challenge.request, code=code)
    for name in challenge.bursts.exclude(frame_file="").values_list("frame_file", flat=True):
        default_storage.delete(name)


def purge_unused_challenges(*, batch_size: int = 1000, now: dt.datetime | None = None) -> int:
    """Challenges never finished go, with their kept frames, once their time
    is up; fingerprints after the retention period. One bounded batch."""
    now = now or timezone.now()
    idle = now - dt.timedelta(seconds=settings.LIVENESS_CHALLENGE_SECONDS)
    # Not while a burst waits for a worker (the portal's delay), up to
    # LIVENESS_CHECK_WAIT_SECONDS.
    stale = list(LivenessChallenge.objects.filter(
        Q(revealed_at__isnull=True) | Q(revealed_at__lt=idle),
        Q(checking_since__isnull=True) | Q(checking_since__lt=now - dt.timedelta(
            seconds=settings.LIVENESS_CHECK_WAIT_SECONDS)),
        used_at__isnull=True, issued_at__lt=idle,
    ).values_list("pk", flat=True)[:batch_size])
    for name in (LivenessBurst.objects.filter(challenge__in=stale).exclude(frame_file="")
                 .values_list("frame_file", flat=True)):
        default_storage.delete(name)
    for names in LivenessChallenge.objects.filter(pk__in=stale).values_list("checking_files",
                                                                           flat=True):
        for name in names:
            default_storage.delete(name)
    LivenessChallenge.objects.filter(pk__in=stale).delete()
    old = FrameFingerprint.objects.filter(
        created_at__lt=now - dt.timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS))
    FrameFingerprint.objects.filter(pk__in=list(old.values_list("pk", flat=True)[:batch_size])
                                    ).delete()
    return len(stale)
