"""The demo's mailbox page: with DEBUG on, a newcomer reads the e-mails the
portal sent and follows their links in the browser; with DEBUG off it does
not exist."""

import re

import pytest

from subjects.jobs.delivery import deliver_email
from subjects.models import OutboundEmail, RightsRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_mail(settings, tmp_path):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    return tmp_path / "mail"


def start_and_send(client, address: str) -> None:
    response = client.post("/start/", {"email": address, "language": "en", "consent": "on"})
    assert response.status_code == 302
    for outbound in OutboundEmail.objects.filter(request__email=address):
        assert deliver_email(outbound.pk)


def test_the_mailbox_shows_the_sent_email_with_its_link_clickable(client, demo_mail):
    start_and_send(client, "newcomer@example.org")
    assert list(demo_mail.glob("*.log")), "the file backend wrote nothing"

    page = client.get("/dev/mail/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Demo mailbox" in html
    assert "To newcomer@example.org" in html
    assert "Confirm your e-mail address" in html
    link = re.search(r'<a href="(http://127\.0\.0\.1:8000/verify/[^"]+)"', html)
    assert link, html

    # The link, clicked, shows its button; pressed, it confirms the address.
    path = link.group(1).removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200
    response = client.post(path, follow=True)
    assert response.status_code == 200
    request = RightsRequest.objects.get(email="newcomer@example.org")
    assert request.verified_at is not None


def test_the_footer_links_the_mailbox_only_with_debug_on(client, demo_mail, settings):
    assert 'href="/dev/mail/"' in client.get("/").content.decode()
    settings.DEBUG = False
    assert 'href="/dev/mail/"' not in client.get("/").content.decode()


def test_the_mailbox_answers_404_with_debug_off(client, demo_mail, settings):
    start_and_send(client, "someone@example.org")
    settings.DEBUG = False
    response = client.get("/dev/mail/")
    assert response.status_code == 404
    assert "someone@example.org" not in response.content.decode()
