"""Every wrong selfie and every wrong link gets its own clear 4xx answer
and stores nothing."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from subjects.core import tokens
from subjects.models import AuditEvent, RightsRequest
from subjects.person import intake
from tests.conftest import FACES_DIR
from tests.subjects.helpers import upload, verified_in

pytestmark = pytest.mark.django_db


def verified_request(client, email="bob.example@example.org", language="en") -> RightsRequest:
    return verified_in(client, email, language)


def selfie_files() -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "selfies"
    return sorted(folder.iterdir()) if folder.exists() else []


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def no_face() -> bytes:
    return jpeg(Image.linear_gradient("L").resize((640, 480)).convert("RGB"))


def tiny_face() -> bytes:
    with Image.open(FACES_DIR / "obama_1.jpg") as image:
        return jpeg(image.resize((image.width // 4, image.height // 4)))


def fifty_megabytes() -> bytes:
    return (FACES_DIR / "obama_1.jpg").read_bytes() + b"\0" * (50 * 1024 * 1024)


BAD_SELFIES = {
    "no face": ("wall.jpg", no_face, "We could not find a face in this photo"),
    "two faces": ("group_two_people.jpg", lambda: None, "This photo shows 2 faces"),
    "tiny face": ("small.jpg", tiny_face, "Your face is too small in this photo"),
    "not an image": ("notes.jpg", lambda: b"Dear diary, today I...\n" * 40,
                     "This file is not a photo we can read"),
    "truncated jpeg": ("cut.jpg", lambda: (FACES_DIR / "obama_1.jpg").read_bytes()[:40000],
                       "The image file is incomplete or damaged"),
    "50 MB file": ("huge.jpg", fifty_megabytes, "The file is too large: the limit is 10 MB"),
}


@pytest.mark.parametrize("case", sorted(BAD_SELFIES))
def test_a_bad_selfie_gets_its_own_message_and_nothing_is_stored(client, case):
    name, make, message = BAD_SELFIES[case]
    request = verified_request(client)
    page = f"/r/{tokens.access_token(request)}/selfie/"
    events_before = AuditEvent.objects.count()
    files_before = selfie_files()
    response = client.post(page, {"photo": upload(name, make())})
    assert response.status_code == 400
    assert message in response.content.decode()
    # The person can try again on the same page.
    assert 'name="photo"' in response.content.decode()
    request.refresh_from_db()
    assert request.state == "verified"
    assert request.selfie_embedding is None
    assert not request.matches.exists()
    assert selfie_files() == files_before
    assert AuditEvent.objects.count() == events_before


def test_a_missing_file_asks_for_one(client):
    request = verified_request(client)
    response = client.post(f"/r/{tokens.access_token(request)}/selfie/", {})
    assert response.status_code == 400
    assert "Please choose a photo or take one with your camera." in response.content.decode()


def test_an_expired_verification_link_is_refused_with_410(client, monkeypatch):
    import django.core.signing

    request = intake.start_request(email="carol.example@example.org", language="en")
    real_time = django.core.signing.time.time
    monkeypatch.setattr(django.core.signing.time, "time", lambda: real_time() - 25 * 3600)
    token = tokens.verification_token(request)
    monkeypatch.undo()
    response = client.post(f"/verify/{token}/")
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    request.refresh_from_db()
    assert request.state == "unverified" and request.verified_at is None


def test_a_used_verification_link_is_refused_with_410_in_another_browser(client):
    request = intake.start_request(email="dave.example@example.org", language="en")
    token = tokens.verification_token(request)
    assert client.post(f"/verify/{token}/").status_code == 302
    # (In the same browser it goes on: tests/subjects/test_dead_ends.py.)
    response = Client().post(f"/verify/{token}/")
    assert response.status_code == 410
    assert "This link has already been used" in response.content.decode()


def test_following_a_verification_link_uses_nothing_until_the_button_is_pressed(client):
    """A mail scanner that opens every link in an e-mail does not use it up."""
    request = intake.start_request(email="scanned.example@example.org", language="en")
    token = tokens.verification_token(request)
    for _ in range(3):
        page = client.get(f"/verify/{token}/")
        assert page.status_code == 200
        assert "Confirm my e-mail address" in page.content.decode()
    request.refresh_from_db()
    assert request.state == "unverified"
    assert client.post(f"/verify/{token}/").status_code == 302
    request.refresh_from_db()
    assert request.state == "verified"


def test_a_forged_verification_link_is_404(client):
    request = intake.start_request(email="erin.example@example.org", language="en")
    token = tokens.verification_token(request)
    response = client.get(f"/verify/{token[:-3]}abc/")
    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


@pytest.mark.parametrize("page", ["", "selfie/", "matches/", "status/", "progress.json",
                                  "faces/1.jpg"])
def test_another_requests_token_or_reference_is_a_plain_404(client, page):
    alice = verified_request(client, "alice.example@example.org")
    bob = verified_request(Client(), "bob.example@example.org")
    alice_token = tokens.access_token(alice)
    mac = alice_token.split(".", 1)[1]
    for token in (f"{bob.reference}.{mac}", bob.reference, f"{bob.reference}.", "x" * 30):
        response = client.get(f"/r/{token}/{page}")
        assert response.status_code == 404, token
        assert bob.reference not in response.content.decode()
    # Her own token opens her pages: a verified request shows the selfie step
    # and its progress, sends the rest there, and has no crop to show yet.
    expected = {"": 302, "selfie/": 200, "matches/": 302, "status/": 302,
                "progress.json": 200, "faces/1.jpg": 404}[page]
    assert client.get(f"/r/{alice_token}/{page}").status_code == expected


def test_an_unverified_requests_pages_do_not_open(client):
    request = intake.start_request(email="frank.example@example.org", language="en")
    assert client.get(f"/r/{tokens.access_token(request)}/selfie/").status_code == 404


def test_withdrawing_kills_nothing_but_the_request(client):
    request = verified_request(client, "gina.example@example.org")
    token = tokens.access_token(request)
    response = client.post(f"/r/{token}/withdraw/", {"confirmed": "yes"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "withdrawn"
    page = client.get(f"/r/{token}/status/").content.decode()
    assert "You withdrew this request" in page
    assert "Withdraw my request" not in page
    # The closed request's other pages no longer open.
    again = client.post(f"/r/{token}/withdraw/")
    assert again.status_code == 410
    assert "This request is closed" in again.content.decode()


def test_the_start_form_requires_consent_and_a_valid_address(client):
    response = client.post("/start/", {"email": "not-an-address", "language": "en"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Please enter a valid e-mail address" in body
    assert "We can only search for your face with your explicit consent" in body
    assert not RightsRequest.objects.exists()
