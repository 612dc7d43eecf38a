"""The head turns as asked, and is seen turning while the camera runs.

"Left" and "right" are the person's own: turning to their left moves the
nose towards the right of an unmirrored camera frame, which is a positive
``head_turn``.
"""

from __future__ import annotations

from subjects.person.camera_check.messages import LivenessFailed

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
