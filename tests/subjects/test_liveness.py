"""The camera check against an attacker: one person turning as asked, in
front of the camera, passes; photos of someone, sent as files or held up to
the camera, replayed frames, answers before the pose was shown and frames
of two people fail, each with its own reason. The captures are made at test
time from a real video of a person turning his head and from the test
photos (``tests/subjects/capture.py``)."""

import io

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from search.backends import get_backend
from search.imaging import load_image
from subjects.core import tokens
from subjects.models import FrameFingerprint, LivenessChallenge
from subjects.person import camera_check
from subjects.person.camera_check import LivenessFailed, issue_challenge
from subjects.person.camera_check.challenge import POSES, open_challenge
from subjects.person.camera_check.frames import Frame
from subjects.person.camera_check.rules.background import relative_motion
from subjects.person.camera_check.rules.copies import check_no_copies
from subjects.person.camera_check.rules.scene import check_scene_kept, scene_histogram
from subjects.person.camera_check.rules.turns import (
    STRAIGHT_MAX,
    TURN_MIN,
    check_turn_seen,
    check_turns,
)
from subjects.person.selfie import one_face_in
from tests.conftest import FACES_DIR
from tests.subjects import capture
from tests.subjects.helpers import challenge_of, live_capture, send_burst, upload, verified_in
from tests.waiting import BURST_SECONDS, let_time_pass

pytestmark = pytest.mark.django_db


def photo(name: str) -> bytes:
    return (FACES_DIR / name).read_bytes()


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def mirrored(name: str) -> bytes:
    with Image.open(FACES_DIR / name) as image:
        return jpeg(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def cropped(name: str) -> bytes:
    with Image.open(FACES_DIR / name) as image:
        return jpeg(image.crop((100, 50, image.width - 60, image.height - 50)))


def framed(data: bytes):
    image = load_image(data)
    return image, one_face_in(image)


def refused(response) -> str:
    """The reason the camera check gave, after checking it ended the challenge."""
    assert response.status_code == 400, (response.status_code, response.content[:300])
    return response.json()["code"]


@pytest.fixture(autouse=True)
def no_selfies_left_behind():
    """No worker runs here: take away the selfies it would have used."""
    yield
    for name in default_storage.listdir("selfies")[1] if default_storage.exists("selfies") else []:
        default_storage.delete(f"selfies/{name}")


# -- the attacks, through the page ----------------------------------------------------


def kept_frames() -> set[str]:
    return set(default_storage.listdir("liveness")[1]) if default_storage.exists("liveness") \
        else set()


def test_a_continuous_capture_of_one_person_turning_as_asked_passes(client):
    before = kept_frames()
    request = verified_in(client, "turning.person@example.org")
    response = live_capture(client, tokens.access_token(request))
    assert response.status_code == 200, response.content
    assert response.json()["done"] is True
    request.refresh_from_db()
    assert request.state == "searching" and request.selfie_live is True
    challenge = request.challenges.get()
    assert challenge.passed is True and challenge.failure == ""
    # Every frame fingerprinted as accepted; no burst and no frame kept by
    # the check itself.
    assert FrameFingerprint.objects.filter(challenge=challenge, accepted=True).count() == 18
    assert not challenge.bursts.exists()
    assert kept_frames() <= before


def test_three_photos_of_one_person_sent_as_the_three_poses_fail(client):
    """The old attack: a straight, a left and a right press photo of one
    person, each sent for its pose as the camera would film it on a stand."""
    request = verified_in(client, "three.photos@example.org")
    photos = {"straight": "obama_1.jpg", "left": "obama_4.jpg", "right": "obama_2.jpg"}
    response = live_capture(client, tokens.access_token(request), {
        pose: capture.photo_on_a_stand(name) for pose, name in photos.items()})
    assert refused(response) == "still_burst"
    assert "Nothing moved in front of the camera" in response.json()["error"]
    request.refresh_from_db()
    assert request.state == "verified" and request.selfie_embedding is None


def test_three_photos_held_up_to_a_camera_and_jittered_fail(client):
    """The same photos printed and held up to the camera by hand: shaken,
    zoomed and tilted a little from frame to frame, in front of a room."""
    request = verified_in(client, "held.up@example.org")
    photos = {"straight": "obama_1.jpg", "left": "obama_4.jpg", "right": "obama_2.jpg"}
    response = live_capture(client, tokens.access_token(request), {
        pose: capture.photo_held_up(name, seed=n) for n, (pose, name) in enumerate(photos.items())})
    assert refused(response) == "moved_as_one_piece"
    assert "as a photo or a screen held up to the camera does" in response.json()["error"]
    request.refresh_from_db()
    assert request.state == "verified"


def test_the_same_frames_replayed_under_a_new_challenge_fail(client):
    bursts = capture.passing_bursts()
    first = verified_in(client, "first.capture@example.org")
    token = tokens.access_token(first)
    challenge = challenge_of(client.get(f"/r/{token}/live/").content.decode())
    begun = client.post(f"/r/{token}/live/step/", {"challenge": challenge, "step": "begin"})
    pose = begun.json()["pose"]
    let_time_pass(BURST_SECONDS, why="the server refuses a burst sent sooner")
    accepted = send_burst(client, token, challenge, 0, bursts[pose])
    assert accepted.status_code == 200 and accepted.json()["step"] == 1

    # Someone who got hold of those frames sends them, as they were and
    # saved again, under challenges of their own.
    for n, frames in enumerate((bursts[pose], capture.saved_again(bursts[pose]))):
        other = Client()
        replayer = verified_in(other, f"replayer{n}@example.org")
        response = live_capture(other, tokens.access_token(replayer), {
            p: frames for p in POSES})
        assert refused(response) == "replayed_frames"
        assert "already sent in an earlier check" in response.json()["error"]
    # Rejected frames are fingerprinted too.
    assert FrameFingerprint.objects.filter(accepted=False).count() == 12


def test_a_burst_that_is_one_still_repeated_fails(client):
    request = verified_in(client, "one.still@example.org")
    response = live_capture(client, tokens.access_token(request), {
        pose: capture.still_repeated("obama_1.jpg") for pose in POSES})
    assert refused(response) == "repeated_frame"


def test_a_pose_answered_before_it_was_revealed_fails(client):
    bursts = capture.passing_bursts()
    for early in ("the next pose", "at once"):
        request = verified_in(client, f"early.{early.replace(' ', '.')}@example.org")
        token = tokens.access_token(request)
        challenge = challenge_of(client.get(f"/r/{token}/live/").content.decode())
        begun = client.post(f"/r/{token}/live/step/", {"challenge": challenge, "step": "begin"})
        assert begun.status_code == 200 and begun.json()["step"] == 0
        step = "1" if early == "the next pose" else "0"
        response = client.post(f"/r/{token}/live/step/", {
            "challenge": challenge, "step": step,
            "frames": [upload(f"f{i}.jpg", f) for i, f in enumerate(bursts["straight"])]})
        assert refused(response) == "too_early"
        assert LivenessChallenge.objects.get(request=request).failure == "too_early"


def test_a_pose_answered_far_too_late_fails(client, settings):
    settings.LIVENESS_POSE_SECONDS = 2
    request = verified_in(client, "too.late@example.org")
    response = live_capture(client, tokens.access_token(request), answer_after=2.3)
    assert refused(response) == "too_late"


def test_frames_of_two_people_fail(client):
    """The first pose filmed of one person, the next of someone else."""
    bursts = capture.passing_bursts()
    request = verified_in(client, "two.people@example.org")
    response = live_capture(client, tokens.access_token(request), {
        pose: (lambda step, pose=pose: bursts[pose] if step == 0
               else capture.photo_held_up("kit_harington_3.jpg")) for pose in POSES})
    assert refused(response) == "different_people"


def test_a_cut_from_one_photo_to_another_within_a_burst_fails(client):
    request = verified_in(client, "cut@example.org")
    response = live_capture(client, tokens.access_token(request), {
        pose: capture.cut_between("obama_1.jpg", "obama_4.jpg") for pose in POSES})
    assert refused(response) == "burst_cut"


def test_a_failed_check_is_audited_and_keeps_no_frame(client):
    request = verified_in(client, "failed.check@example.org")
    live_capture(client, tokens.access_token(request), {
        pose: capture.still_repeated("obama_2.jpg") for pose in POSES})
    assert request.events.filter(action="liveness_failed", reason="repeated_frame").exists()
    kept = [b.frame_file for c in request.challenges.all() for b in c.bursts.all()]
    assert not any(default_storage.exists(name) for name in kept)


def test_the_page_shows_no_pose_before_the_check_reveals_it(client):
    request = verified_in(client, "order@example.org")
    token = tokens.access_token(request)
    page = client.get(f"/r/{token}/live/").content.decode()
    for label in camera_check.POSE_LABELS.values():
        assert str(label) not in page
    assert "<script>" not in page
    orders = {tuple(issue_challenge(request)[0].poses) for _ in range(12)}
    assert all(sorted(order) == ["left", "right", "straight"] for order in orders)
    assert len(orders) > 1


def test_a_challenge_is_single_use_fresh_and_bound_to_its_request(client, monkeypatch):
    import django.core.signing

    alice = verified_in(client, "alice.live@example.org")
    bob = verified_in(Client(), "bob.live@example.org")
    challenge, token = issue_challenge(alice)
    with pytest.raises(LivenessFailed, match="challenge_invalid"):
        open_challenge(token, bob)
    assert camera_check.begin(alice, token).step == 0
    with pytest.raises(LivenessFailed, match="challenge_used"):
        camera_check.begin(alice, token)
    with pytest.raises(LivenessFailed, match="challenge_invalid"):
        open_challenge(token[:-2] + "xx", alice)
    real = django.core.signing.time.time
    monkeypatch.setattr(django.core.signing.time, "time", lambda: real() - 600)
    _, stale = issue_challenge(alice)
    monkeypatch.undo()
    with pytest.raises(LivenessFailed, match="challenge_expired"):
        open_challenge(stale, alice)


# -- each rule on its own, on real photos and frames ------------------------------------


def test_photos_of_one_person_turning_pass_the_rules_on_single_frames():
    frames = [framed(photo(n)) for n in ("obama_1.jpg", "obama_4.jpg", "obama_2.jpg")]
    check_no_copies(frames)
    check_turns({pose: face.head_turn() for pose, (_i, face) in
                 zip(("straight", "left", "right"), frames, strict=True)})


def test_a_turn_the_wrong_way_fails():
    turns = {n: framed(photo(n))[1].head_turn() for n in ("obama_1.jpg", "obama_2.jpg",
                                                          "obama_4.jpg")}
    with pytest.raises(LivenessFailed, match="wrong_turn"):
        check_turns({"straight": turns["obama_1.jpg"], "left": turns["obama_2.jpg"],
                     "right": turns["obama_4.jpg"]})


def test_a_turn_must_happen_while_the_camera_runs():
    # Turns of the video's left burst, and of a photo held up and shaken.
    check_turn_seen([-0.004, 0.019, 0.099, 0.060, 0.014, 0.036], "left")
    with pytest.raises(LivenessFailed, match="turn_not_seen"):
        check_turn_seen([0.139, 0.132, 0.126, 0.130, 0.135, 0.131], "left")
    with pytest.raises(LivenessFailed, match="wrong_turn"):
        check_turn_seen([0.139, 0.132, 0.126, 0.130, 0.135, 0.131], "right")


@pytest.mark.parametrize(("first", "second", "code"), [
    (lambda: photo("obama_2.jpg"), lambda: photo("obama_2.jpg"), "repeated_frame"),
    (lambda: photo("obama_2.jpg"), lambda: mirrored("obama_2.jpg"), "mirrored_frame"),
    (lambda: photo("obama_2.jpg"), lambda: cropped("obama_2.jpg"), "resized_frame"),
    # obama_5 is a rescaled copy of obama_1.
    (lambda: photo("obama_1.jpg"), lambda: photo("obama_5.jpg"), "resized_frame"),
], ids=["same photo", "mirror", "crop", "rescale"])
def test_copies_of_a_frame_fail_with_their_own_reason(first, second, code):
    with pytest.raises(LivenessFailed) as failed:
        check_no_copies([framed(first()), framed(second())])
    assert failed.value.code == code


def test_the_scene_must_stay_the_same_from_pose_to_pose():
    video = capture.video_frames()

    def histogram(data: bytes):
        image, face = framed(data)
        return scene_histogram(image, face.box)

    stage = [histogram(capture.jpeg(video[n])) for n in (120, 146, 171)]
    check_scene_kept(stage)
    held = [histogram(capture.photo_held_up(name)[0])
            for name in ("obama_1.jpg", "obama_4.jpg", "obama_2.jpg")]
    with pytest.raises(LivenessFailed, match="scene_changed"):
        check_scene_kept(held)
    with pytest.raises(LivenessFailed, match="scene_changed"):
        check_scene_kept([stage[0], held[0]])


def test_the_turn_measure_follows_the_head():
    backend = get_backend("dlib")
    turns = {n: backend.detect(load_image(FACES_DIR / n))[0].head_turn()
             for n in ("obama_1.jpg", "obama_2.jpg", "obama_4.jpg")}
    assert abs(turns["obama_1.jpg"]) < STRAIGHT_MAX
    assert turns["obama_4.jpg"] > TURN_MIN > 0 > -TURN_MIN > turns["obama_2.jpg"]


def test_the_relative_motion_measure_tells_a_head_from_a_photo():
    def motion(frames):
        return relative_motion([Frame(f, *framed(f)) for f in frames])

    assert motion(capture.video_burst(120)) > 1.0
    assert motion(capture.photo_held_up("obama_4.jpg")) < 0.1
    assert motion(capture.still_repeated("obama_4.jpg")) == 0.0
