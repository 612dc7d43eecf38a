"""Art. 19: each recipient of an erased face is asked, by a signed link in
the notice, to confirm that it erased or stopped using it; the DPO sees who
has and has not, reminders go out, and the access package reports it."""

import datetime as dt
import time
from unittest import mock

import pytest
from django.test import Client

from search.models import Customer
from subjects.core import tokens
from subjects.jobs import delivery
from subjects.jobs.access_package import package_content
from subjects.jobs.erasure import send_notices
from subjects.jobs.reminders import send_acknowledgement_reminders
from subjects.models import OutboundEmail, RecipientNotice, RequestJob
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import confirmed_again_in, links_in, path_of

pytestmark = pytest.mark.django_db

PERSON = "ack.person@example.org"


@pytest.fixture
def erasure():
    """An erasure whose last step told two customers (the real step)."""
    police = Customer.objects.create(name="Polizei Ack", kind="law_enforcement", country="DE",
                                     account="paid", contact_email="privacy@polizei-ack.example")
    bank = Customer.objects.create(name="Ack Bank", kind="bank", country="NL", account="paid",
                                   contact_email="dpo@ack-bank.example")
    request = make_request("in_progress", kinds=("erasure",), email=PERSON)
    job = RequestJob.objects.create(
        request=request, kind="erasure", order=0,
        plan={"recipients": {str(police.pk): [11, 12], str(bank.pk): [13]}})
    send_notices(job)
    return request, police, bank


def notice_link(customer: Customer, kind: str = "art19_notice") -> tuple[str, str]:
    """The confirmation link of the last message of ``kind`` to ``customer``,
    as rendered for sending, and the message's text."""
    outbound = OutboundEmail.objects.filter(kind=kind, recipient=customer.contact_email).last()
    text = delivery.build_message(outbound).body
    [link] = [url for url in links_in(text) if "/acknowledge/" in url]
    return path_of(link), text


def test_a_recipient_confirms_by_the_link_and_the_dpo_sees_who_has_not(erasure):
    request, police, bank = erasure
    path, text = notice_link(police)
    assert "Please confirm that you have erased or stopped using these faces" in text
    assert "The link works for 90 days." in text
    recipient = Client()
    page = recipient.get(path)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Polizei Ack" in body and "erased 2 faces" in body
    # Following the link (as a mail scanner does) confirms nothing.
    assert RecipientNotice.objects.get(customer=police).acknowledged_at is None
    assert recipient.post(path, {}).status_code == 400
    response = recipient.post(path, {"confirmed": "erased"})
    assert response.status_code == 302
    assert "Confirmed on" in recipient.get(path).content.decode()
    notice = RecipientNotice.objects.get(customer=police)
    assert notice.acknowledged_as == "erased" and notice.acknowledged_at is not None
    # A second confirmation changes nothing.
    recipient.post(path, {"confirmed": "stopped_using"})
    notice.refresh_from_db()
    assert notice.acknowledged_as == "erased"
    [event] = request.events.filter(action="notice_acknowledged")
    assert event.actor == "recipient" and event.details["customer"] == "Polizei Ack"

    dpo = log_in_verified(Client(), make_dpo()[0])
    page = dpo.get(f"/dpo/requests/{request.reference}/").content.decode()
    section = page[page.index('id="notices-heading"'):page.index('id="timeline-heading"')]
    police_row = section[section.index("Polizei Ack"):].split("</tr>")[0]
    bank_row = section[section.index("Ack Bank"):].split("</tr>")[0]
    assert "We have erased the faces" in police_row
    assert "Not confirmed yet" in bank_row
    # The person's own timeline shows it too.
    person = Client()
    confirmed_again_in(person, request)
    status = person.get(f"/r/{tokens.access_token(request)}/status/").content.decode()
    assert "A recipient of your data confirmed that it acted on the erasure" in status


def test_an_altered_link_is_refused_and_confirms_nothing(erasure):
    _request, police, bank = erasure
    path, _ = notice_link(police)
    token = path.strip("/").split("/")[-1]
    value, _, signature = token.rpartition(":")
    bank_notice = RecipientNotice.objects.get(customer=bank)
    altered = [
        f"{value}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",  # signature changed
        f"{bank_notice.pk}:{bank.pk}:{token.split(':', 2)[2]}",  # another notice's id
        "not-a-token",
    ]
    for bad in altered:
        response = Client().post(f"/acknowledge/{bad}/", {"confirmed": "erased"})
        assert response.status_code == 404, bad
        assert "This link is not valid" in response.content.decode()
    assert not RecipientNotice.objects.filter(acknowledged_at__isnull=False).exists()


def test_an_expired_link_is_refused_and_confirms_nothing(erasure, settings):
    _request, police, _bank = erasure
    notice = RecipientNotice.objects.get(customer=police)
    signed_long_ago = time.time() - (settings.ART19_LINK_DAYS + 1) * 86400
    with mock.patch("django.core.signing.time.time", return_value=signed_long_ago):
        old = tokens.acknowledgement_token(notice)
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/acknowledge/{old}/", {"confirmed": "erased"})
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
    notice.refresh_from_db()
    assert notice.acknowledged_at is None


def test_reminders_go_to_those_who_have_not_confirmed_after_the_set_days(erasure, settings):
    _request, police, bank = erasure
    path, _ = notice_link(police)
    Client().post(path, {"confirmed": "stopped_using"})
    notified = RecipientNotice.objects.get(customer=bank).notified_at
    days = settings.ART19_REMINDER_DAYS
    assert send_acknowledgement_reminders(now=notified + dt.timedelta(days=days - 1)) == 0
    assert send_acknowledgement_reminders(now=notified + dt.timedelta(days=days, hours=1)) == 1
    assert send_acknowledgement_reminders(now=notified + dt.timedelta(days=days, hours=2)) == 0
    [reminder] = OutboundEmail.objects.filter(kind="art19_reminder")
    assert reminder.recipient == bank.contact_email
    path, text = notice_link(bank, "art19_reminder")
    assert "We have not yet received your confirmation" in text
    assert Client().get(path).status_code == 200
    # At most ART19_MAX_REMINDERS, then no more.
    later = notified + dt.timedelta(days=days, hours=1)
    for _ in range(settings.ART19_MAX_REMINDERS + 2):
        later += dt.timedelta(days=days)
        send_acknowledgement_reminders(now=later)
    assert OutboundEmail.objects.filter(kind="art19_reminder").count() == \
        settings.ART19_MAX_REMINDERS
    assert RecipientNotice.objects.get(customer=bank).reminders_sent == \
        settings.ART19_MAX_REMINDERS


def test_the_access_package_reports_the_confirmations_of_earlier_erasures(erasure):
    _request, police, _bank = erasure
    path, _ = notice_link(police)
    Client().post(path, {"confirmed": "erased"})
    later = make_request("in_progress", kinds=("access",), email=PERSON.upper(),
                         received_days_ago=0)
    data, _files = package_content(later, {"faces": {}, "recipients": []})
    notices = {n["customer"]: n for n in data["erasure_notices"]}
    assert set(notices) == {"Polizei Ack", "Ack Bank"}
    assert notices["Polizei Ack"]["acknowledged_as"] == "erased"
    assert notices["Polizei Ack"]["faces"] == 2
    assert notices["Ack Bank"]["acknowledged_at"] is None
    someone_else = make_request("in_progress", kinds=("access",), email="other@example.org")
    assert package_content(someone_else, {"faces": {}, "recipients": []})[0][
        "erasure_notices"] == []
