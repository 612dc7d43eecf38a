"""The camera check (own-face assurance): a short live capture that photos
of someone cannot pass.

The server issues a signed, single-use challenge, valid for a few minutes,
holding a random order of three poses (look straight, turn left, turn
right). It reveals each pose only once the previous one has arrived, and
each must arrive within ``LIVENESS_POSE_SECONDS`` of being revealed,
measured here. For each pose the page sends a *burst*: six frames taken
over about a second from the moment the pose is shown. Each rule is a
named function in a module of its own (``rules``, where the order they run
in is listed) that returns nothing or raises :class:`LivenessFailed` with
its own reason.

What it defends against: still photos of someone, printed or on a screen,
sent as files or held up to the camera, shaken, zoomed or tilted (the face
and its surroundings move as one piece, and its head never turns while
the camera runs); three different photos of one person for the three
poses; cuts between pictures; mirrored, cropped or rescaled copies; frames
replayed from any earlier challenge, shifted, rescaled, turned, mirrored or
re-encoded (the aligned face's fingerprint); a face cut out of a photo the
index scraped, however it is warped in 2-D (``known_photo``); poses
answered before they were shown. It keeps no face template: a burst holds
scalars only, and goes with its kept frame when the check ends. What it
does not: a video of the person turning their head (a
recording, or a rendered or deep-faked feed injected as the camera), a
mask or a 3-D model. It is no certified presentation-attack detection
(ISO/IEC 30107-3).

The rooms: ``challenge`` (the challenge, its token, revealing the first
pose), ``queued`` (a burst stored by the web process, checked on a search
worker, answered to the page), ``flow`` (the rules on one burst in order,
the whole capture, how a challenge ends), ``frames``, ``measures``,
``rules/`` (one module per rule, its threshold and the measurements behind
it), ``fingerprints`` (replay), ``purge`` (housekeeping) and ``messages``
(what a person reads).

This door holds the calls the pages, the jobs and the retention sweep make.
"""

from subjects.person.camera_check.challenge import (
    Outcome,
    begin,
    challenge_for_page,
    issue_challenge,
)
from subjects.person.camera_check.frames import BURST_FRAMES
from subjects.person.camera_check.messages import POSE_LABELS, LivenessFailed, StepRefused
from subjects.person.camera_check.purge import purge_unused_challenges
from subjects.person.camera_check.queued import (
    burst_answer,
    check_queued_burst,
    give_up_check,
    queue_burst,
    resume_stalled_checks,
)

__all__ = [
    "BURST_FRAMES",
    "POSE_LABELS",
    "LivenessFailed",
    "Outcome",
    "StepRefused",
    "begin",
    "challenge_for_page",
    "burst_answer",
    "check_queued_burst",
    "give_up_check",
    "issue_challenge",
    "purge_unused_challenges",
    "queue_burst",
    "resume_stalled_checks",
]
