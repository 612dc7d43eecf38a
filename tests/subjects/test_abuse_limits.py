"""Abuse limits, on by default: 429 and a sentence."""

import datetime as dt
import io
import re

import pytest
from django.utils import timezone
from PIL import Image

from portal.models import RateCounter
from subjects.core import tokens
from subjects.models import RightsRequest
from subjects.person import intake
from tests.subjects.helpers import confirm_in, upload

pytestmark = pytest.mark.django_db


def start(client, email, ip="192.0.2.10"):
    return client.post("/start/", {"email": email, "language": "en", "consent": "on"},
                       REMOTE_ADDR=ip)


def test_verification_emails_are_limited_per_address(client):
    for _ in range(3):
        assert start(client, "many.links@example.org").status_code == 302
    response = start(client, "many.links@example.org")
    assert response.status_code == 429
    assert "Too many confirmation e-mails" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    # The form sent again within the verification window went on with the
    # pending request: one request, however many times it was sent.
    assert RightsRequest.objects.filter(email="many.links@example.org").count() == 1
    # Someone else, from elsewhere, is not held back.
    assert start(client, "other@example.org", ip="192.0.2.99").status_code == 302


def test_verification_emails_are_limited_per_ip(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "verify_per_ip": "5/h"}
    for n in range(5):
        assert start(client, f"ip{n}@example.org", ip="198.51.100.7").status_code == 302
    assert start(client, "ip5@example.org", ip="198.51.100.7").status_code == 429
    assert not RightsRequest.objects.filter(email="ip5@example.org").exists()


def verified(email: str, client=None) -> RightsRequest:
    request = intake.start_request(email=email, language="en")
    if client is not None:
        return confirm_in(client, request)
    return intake.verify_email(tokens.verification_token(request))


def test_selfie_searches_are_limited_per_request(client):
    request = verified("searcher@example.org", client)
    RightsRequest.objects.filter(pk=request.pk).update(searches_run=3, state="matches_ready")
    response = client.post(f"/r/{tokens.access_token(request)}/selfie/",
                           {"photo": upload("obama_2.jpg")})
    assert response.status_code == 429
    assert "already been searched 3 times" in response.content.decode()
    request.refresh_from_db()
    assert request.state == "matches_ready"


def test_selfie_attempts_are_limited_per_ip(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "selfie_per_ip": "2/h"}
    request = verified("prober@example.org", client)
    page = f"/r/{tokens.access_token(request)}/selfie/"
    for _ in range(2):
        # A photo the model looks at (and finds no face in) counts.
        response = client.post(page, {"photo": upload("wall.jpg", faceless_photo())},
                               REMOTE_ADDR="203.0.113.5")
        assert response.status_code == 400
        assert "We could not find a face" in response.content.decode()
    response = client.post(page, {"photo": upload("obama_2.jpg")}, REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many selfies" in text
    # Until when, and what to do meanwhile.
    assert re.search(r"You can try again from \d{1,2}:\d{2}", text), text
    assert "write to our Data Protection Officer" in text
    assert f'href="mailto:{settings.DPO_EMAIL}"' in text


def faceless_photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 130, 140)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_files_we_cannot_read_do_not_lock_the_address_out(client):
    """Honest mistakes cost the portal nothing: 7 files that are no photo
    (or too damaged to read) and 3 camera checks leave the address able to
    search (the limit is 10 a day)."""
    request = verified("clumsy@example.org", client)
    token = tokens.access_token(request)
    page = f"/r/{token}/selfie/"
    for n in range(7):
        response = client.post(page, {"photo": upload(f"notes{n}.jpg", b"not a photo %d" % n)})
        assert response.status_code == 400
        assert "This file is not a photo we can read" in response.content.decode()
    for _ in range(3):
        assert client.post(f"/r/{token}/live/step/", {"step": "begin", "challenge": "x"}
                           ).status_code != 429
    response = client.post(page, {"photo": upload("obama_2.jpg")})
    assert response.status_code == 302, response.content.decode()[:2000]


def test_one_open_request_per_type_per_address(client):
    email = "twice@example.org"
    first = verified(email)
    RightsRequest.objects.filter(pk=first.pk).update(
        state="awaiting_review", access=True, received_at=timezone.now() - dt.timedelta(days=1))
    second = verified(email, client)
    RightsRequest.objects.filter(pk=second.pk).update(state="matches_ready")
    response = client.post(f"/r/{tokens.access_token(second)}/file/", {"kinds": ["access"]})
    assert response.status_code == 429
    assert "You already have an open request of this type" in response.content.decode()
    second.refresh_from_db()
    assert second.state == "matches_ready" and second.received_at is None


def test_counters_hold_no_address_and_no_ip(client, settings):
    start(client, "secretive@example.org", ip="192.0.2.77")
    if settings.RATE_LIMIT_STORE == "cache":
        from django.core.cache import caches

        keys = [k.decode() for k in caches["default"]._cache.get_client().keys("*")]
    else:
        keys = list(RateCounter.objects.values_list("key", flat=True))
    assert keys and not any("secretive" in k or "192.0.2.77" in k for k in keys)


def test_dpo_logins_are_limited_per_address(client):
    for _ in range(10):
        response = client.post("/dpo/login/", {"email": "dpo.guess@example.org",
                                               "password": "wrong password", "code": "123456"})
        assert response.status_code == 400
    response = client.post("/dpo/login/", {"email": "dpo.guess@example.org",
                                           "password": "wrong password", "code": "123456"})
    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()


def test_the_per_ip_limit_holds_when_the_client_address_is_empty(client, settings):
    """gunicorn on a Unix socket without a proxy header: REMOTE_ADDR is
    empty. Every such request is one client, never an unlimited one."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "verify_per_ip": "3/h"}
    for n in range(3):
        assert start(client, f"socket{n}@example.org", ip="").status_code == 302
    response = start(client, "socket3@example.org", ip="")
    assert response.status_code == 429
    assert not RightsRequest.objects.filter(email="socket3@example.org").exists()


def test_an_empty_client_address_is_logged_once(settings, caplog):
    from portal import ratelimit

    ratelimit._warned_unknown_client = False
    with caplog.at_level("WARNING", logger="portal.ratelimit"):
        for _ in range(3):
            assert ratelimit.client_identity("") == ratelimit.UNKNOWN_CLIENT
    assert len([r for r in caplog.records if "without a client address" in r.message]) == 1


def test_the_per_ip_limit_holds_across_one_ipv6_64(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "verify_per_ip": "3/h"}
    for n in range(3):
        address = f"2001:db8:1:2:{n:x}:{n * 7:x}::{n + 1:x}"
        assert start(client, f"six{n}@example.org", ip=address).status_code == 302
    response = start(client, "six3@example.org", ip="2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert response.status_code == 429
    # Another /64 is another subscriber.
    assert start(client, "six4@example.org", ip="2001:db8:1:3::1").status_code == 302


def test_the_per_address_limit_holds_across_plus_tag_aliases(client):
    aliases = ["Name+1@example.org", "name+2@example.org", "NAME@example.org"]
    for address in aliases:
        assert start(client, address, ip="192.0.2.31").status_code == 302
    response = start(client, "name+three@Example.org", ip="192.0.2.32")
    assert response.status_code == 429
    assert "Too many confirmation e-mails" in response.content.decode()


def test_gmail_addresses_count_without_their_dots(client):
    for address in ("first.last@gmail.com", "firstlast+x@googlemail.com",
                    "f.i.r.s.t.last@gmail.com"):
        assert start(client, address, ip="192.0.2.41").status_code == 302
    assert start(client, "firstlast@gmail.com", ip="192.0.2.42").status_code == 429
    # Dots count elsewhere: another person.
    assert start(client, "first.last@example.org", ip="192.0.2.43").status_code == 302


def test_one_open_request_per_type_holds_across_plus_tag_aliases(client):
    first = verified("holder+a@example.org")
    RightsRequest.objects.filter(pk=first.pk).update(
        state="awaiting_review", access=True, received_at=timezone.now() - dt.timedelta(days=1))
    second = verified("holder+b@example.org", client)
    RightsRequest.objects.filter(pk=second.pk).update(state="matches_ready")
    response = client.post(f"/r/{tokens.access_token(second)}/file/", {"kinds": ["access"]})
    assert response.status_code == 429
