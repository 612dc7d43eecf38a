"""The camera check: one person turning as asked passes; a photo of someone
cannot, whatever is done to it. Each rule has its own tests, on real photos."""

import io
import re

import pytest
from PIL import Image

from search.backends import get_backend
from search.imaging import load_image
from subjects.core import tokens
from subjects.models import RightsRequest
from subjects.person import intake, liveness
from subjects.person.liveness import (
    LivenessFailed,
    check_challenge,
    check_no_copies,
    check_one_face_each,
    check_same_person,
    check_turns,
    issue_challenge,
)
from tests.conftest import FACES_DIR
from tests.subjects.helpers import OBAMA_POSES, challenge_of, upload

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


def captured(*names_or_bytes):
    frames = [photo(x) if isinstance(x, str) else x for x in names_or_bytes]
    return check_one_face_each(frames, ["straight", "left", "right"][: len(frames)])


# -- each rule on its own ----------------------------------------------------------


def test_frames_of_one_person_turning_as_asked_pass_every_rule():
    frames = captured("obama_1.jpg", "obama_4.jpg", "obama_2.jpg")
    faces = [face for _, face in frames]
    check_no_copies(frames)
    check_same_person(faces)
    check_turns(faces, ["straight", "left", "right"])


def test_a_turn_the_wrong_way_fails():
    faces = [f for _, f in captured("obama_1.jpg", "obama_2.jpg", "obama_4.jpg")]
    with pytest.raises(LivenessFailed) as failed:
        check_turns(faces, ["straight", "left", "right"])
    assert failed.value.code == "wrong_turn"


def test_not_turning_at_all_fails():
    faces = [f for _, f in captured("obama_1.jpg", "obama_5.jpg")]
    with pytest.raises(LivenessFailed, match="wrong_turn"):
        check_turns(faces, ["straight", "left"])


def test_two_different_people_fail():
    faces = [f for _, f in captured("obama_1.jpg", "biden_1.jpg", "obama_2.jpg")]
    with pytest.raises(LivenessFailed) as failed:
        check_same_person(faces)
    assert failed.value.code == "different_people"


@pytest.mark.parametrize(("first", "second", "code"), [
    (lambda: photo("obama_2.jpg"), lambda: photo("obama_2.jpg"), "repeated_frame"),
    (lambda: photo("obama_2.jpg"), lambda: mirrored("obama_2.jpg"), "mirrored_frame"),
    (lambda: photo("obama_2.jpg"), lambda: cropped("obama_2.jpg"), "resized_frame"),
    # obama_5 is a rescaled copy of obama_1.
    (lambda: photo("obama_1.jpg"), lambda: photo("obama_5.jpg"), "resized_frame"),
], ids=["same photo", "mirror", "crop", "rescale"])
def test_copies_of_a_frame_fail_with_their_own_reason(first, second, code):
    with pytest.raises(LivenessFailed) as failed:
        check_no_copies(check_one_face_each([first(), second()], ["straight", "left"]))
    assert failed.value.code == code


def test_a_frame_without_a_face_names_the_frame():
    wall = jpeg(Image.linear_gradient("L").resize((640, 480)))
    with pytest.raises(LivenessFailed) as failed:
        check_one_face_each([photo("obama_1.jpg"), wall], ["straight", "left"])
    assert failed.value.code == "frame_no_face"
    assert str(failed.value.message).startswith("Photo 2: We could not find a face")


def test_a_missing_frame_fails():
    with pytest.raises(LivenessFailed, match="frames_missing"):
        check_one_face_each([photo("obama_1.jpg"), b""], ["straight", "left"])


def verified(email="live.person@example.org") -> RightsRequest:
    request = intake.start_request(email=email, language="en")
    return intake.verify_email(tokens.verification_token(request))


def test_a_challenge_is_single_use_fresh_and_bound_to_its_request(monkeypatch):
    import django.core.signing

    alice, bob = verified("alice.live@example.org"), verified("bob.live@example.org")
    challenge, token = issue_challenge(alice)
    assert sorted(challenge.poses) == ["left", "right", "straight"]
    with pytest.raises(LivenessFailed, match="challenge_invalid"):
        check_challenge(token, bob)
    assert check_challenge(token, alice).pk == challenge.pk
    with pytest.raises(LivenessFailed, match="challenge_used"):
        check_challenge(token, alice)
    with pytest.raises(LivenessFailed, match="challenge_invalid"):
        check_challenge(token[:-2] + "xx", alice)
    real = django.core.signing.time.time
    monkeypatch.setattr(django.core.signing.time, "time", lambda: real() - 600)
    _, stale = issue_challenge(alice)
    monkeypatch.undo()
    with pytest.raises(LivenessFailed, match="challenge_expired"):
        check_challenge(stale, alice)


def test_the_turn_measure_follows_the_head():
    backend = get_backend("dlib")
    turns = {n: backend.detect(load_image(FACES_DIR / n))[0].head_turn()
             for n in ("obama_1.jpg", "obama_2.jpg", "obama_4.jpg")}
    assert abs(turns["obama_1.jpg"]) < liveness.STRAIGHT_MAX
    assert turns["obama_4.jpg"] > liveness.TURN_MIN > 0 > -liveness.TURN_MIN > turns["obama_2.jpg"]


# -- through the page ------------------------------------------------------------------


def post_frames(client, request, frames: dict[str, bytes], *, challenge=None):
    token = tokens.access_token(request)
    page = client.get(f"/r/{token}/live/").content.decode()
    fresh, poses = challenge_of(page)
    data = {"challenge": challenge or fresh}
    for number, pose in enumerate(poses):
        data[f"frame_{number}"] = upload(f"frame{number}.jpg", frames[pose])
    return client.post(f"/r/{token}/live/", data), fresh


PASSING = {pose: photo(name) for pose, name in OBAMA_POSES.items()}
FAILURES = {
    "the same photo twice": ({**PASSING, "left": PASSING["right"]},
                             "The same photo was sent twice"),
    "a mirrored photo": ({**PASSING, "left": mirrored("obama_2.jpg")},
                         "One photo is a mirror image of another"),
    "a crop": ({**PASSING, "left": cropped("obama_2.jpg")},
               "One photo is a cropped or resized copy of another"),
    "two different people": ({**PASSING, "left": photo("kit_harington_3.jpg")},
                             "The photos do not all show the same person"),
    "a turn the wrong way": ({**PASSING, "left": PASSING["right"],
                              "right": PASSING["left"]},
                             "Your head did not turn as asked"),
}


def test_one_person_turning_as_asked_passes_and_starts_a_live_search(client):
    request = verified()
    response, _ = post_frames(client, request, PASSING)
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "searching" and request.selfie_live is True
    assert request.challenges.get().passed is True
    # No worker runs here: take away the selfie it would have deleted.
    from django.core.files.storage import default_storage

    for name in default_storage.listdir("selfies")[1]:
        default_storage.delete(f"selfies/{name}")


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_each_faked_capture_fails_with_its_own_reason(client, case):
    frames, message = FAILURES[case]
    request = verified()
    response, _ = post_frames(client, request, frames)
    assert response.status_code == 400
    assert message in response.content.decode()
    request.refresh_from_db()
    assert request.state == "verified" and not request.selfie_live
    assert request.selfie_embedding is None
    assert request.challenges.filter(passed=False).count() == 1


def test_a_reused_challenge_fails(client):
    request = verified()
    response, used = post_frames(client, request, FAILURES["a crop"][0])
    assert response.status_code == 400
    response, _ = post_frames(client, request, PASSING, challenge=used)
    assert response.status_code == 400
    assert "This check has already been used" in response.content.decode()


def test_a_stale_challenge_fails(client, monkeypatch):
    import django.core.signing

    request = verified()
    real = django.core.signing.time.time
    monkeypatch.setattr(django.core.signing.time, "time", lambda: real() - 3600)
    _, stale = issue_challenge(request)
    monkeypatch.undo()
    response, _ = post_frames(client, request, PASSING, challenge=stale)
    assert response.status_code == 400
    assert "This check took too long" in response.content.decode()
    request.refresh_from_db()
    assert request.state == "verified"


def test_the_page_asks_for_every_pose_in_a_random_order(client):
    request = verified()
    token = tokens.access_token(request)
    orders = {tuple(challenge_of(client.get(f"/r/{token}/live/").content.decode())[1])
              for _ in range(12)}
    assert all(sorted(order) == ["left", "right", "straight"] for order in orders)
    assert len(orders) > 1
    assert not re.search(r"<script>", client.get(f"/r/{token}/live/").content.decode())
