"""The camera check's rules, one module each: its threshold, the
measurement behind the threshold, and its check, a function that returns
nothing or raises ``LivenessFailed`` with its own reason. ``flow`` runs
them in this order.

On each burst, as it arrives: ``timing.check_timing``,
``replay.check_not_replayed``, ``one_face.check_one_face_each``,
``replay.check_face_not_replayed``, ``known_photo.check_not_known_photo``,
``repeats.check_no_repeats_in_burst``, ``still.check_not_still``,
``continuity.check_continuous``, ``same_person.check_same_person``, and for
a turn ``background.check_moves_against_background`` and
``turns.check_turn_seen``.

On the whole capture: ``scene.check_scene_kept``, ``copies.check_no_copies``,
``turns.check_turns``.

Every threshold was measured on a real video of a person turning his head
(``short_hamilton_clip.mp4`` of the face_recognition project, cut into
bursts as the page takes them: six frames 0.2 s apart, the stage around
the performer at 640x480) and on the attacks made from the test photos
(``tests/subjects/capture.py``); the figures are beside each constant.
"""
