"""What a person reads about the camera check: each pose's instruction,
the reason a rule gives when it refuses, and the two refusals themselves
(:class:`LivenessFailed` ends the check, :class:`StepRefused` does not)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

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
    "known_photo": _("Your camera showed a copy of a photo that is already published, not a "
                     "live camera picture. Please start the camera check again in front of "
                     "your camera."),
    "frame_not_jpeg": _("A camera picture was not a JPEG photo as the camera page takes it. "
                        "Please start the camera check again on this page."),
    "frame_too_large": _("A camera picture was larger than a webcam takes. Please start the "
                         "camera check again on this page."),
    "resized_frame": _("One photo is a cropped or resized copy of another. Please take a new "
                       "photo for each instruction."),
}

#: Refusals that leave the check running: a double submit, say.
STEP_DONE = _("This instruction was already answered. Please go on with the camera check.")

#: What the person is told when no answer can be given for a step.
CHECK_ERROR = _("We could not finish checking your camera pictures. Please start the camera "
                "check again.")


#: A camera picture a rule could not use (``frame_<code>``, the code of the
#: selfie's own check). Said of the camera's pictures, with no number: the
#: page took them itself, six a pose.
FRAME_MESSAGES = {
    "no_face": _("In one of the camera pictures we could not find a face. Please keep your "
                 "whole face in view, in good light, and start the camera check again."),
    "several_faces": _("One of the camera pictures shows more than one face. Please make sure "
                       "only you are in view and start the camera check again."),
    "face_too_small": _("Your face is too small in the camera pictures. Please come closer to "
                        "the camera and start the camera check again."),
}

#: Any other picture the worker could not read (the browser sent no image).
FRAME_UNREADABLE = _("One of the camera pictures could not be read. Please start the camera "
                     "check again.")


def message_for(code: str):
    """The sentence for a failure's code, in the language active where it
    is shown (workers record the code only, never a sentence)."""
    if code in MESSAGES:
        return MESSAGES[code]
    if code.startswith("frame_"):
        return FRAME_MESSAGES.get(code.removeprefix("frame_"), FRAME_UNREADABLE)
    return CHECK_ERROR


class LivenessFailed(Exception):
    def __init__(self, code: str, message=None):
        super().__init__(code)
        self.code = code
        self.message = message if message is not None else message_for(code)


class StepRefused(Exception):
    """A post that does not count (sent twice); the check goes on."""

    def __init__(self, message=STEP_DONE):
        super().__init__(str(message))
        self.message = message
