"""Every citizen page and every e-mail renders in English, Dutch, French and
German: each checked on text that its translation file translates."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext

from subjects.core import tokens
from subjects.jobs import delivery
from subjects.models import AccessPackage, OutboundEmail, RightsRequest
from subjects.person import intake
from tests.subjects.helpers import confirm_in

pytestmark = pytest.mark.django_db

LANGUAGES = ["en", "nl", "fr", "de"]


def translated(language: str, english: str) -> str:
    with translation.override(language):
        text = gettext(english)
    if language != "en":
        assert text != english, f"{english!r} has no {language} translation"
    return text


def get(client, language: str, path: str, status: int = 200) -> str:
    client.cookies["django_language"] = language
    response = client.get(path, follow=False)
    assert response.status_code == status, (path, response.status_code)
    return response.content.decode()


def request_in(state: str, language: str, client=None, **fields) -> RightsRequest:
    request = intake.start_request(email=f"{language}.{state}@example.org", language=language)
    if client is None:
        request = intake.verify_email(tokens.verification_token(request))
    else:
        request = confirm_in(client, request)
    RightsRequest.objects.filter(pk=request.pk).update(state=state, **fields)
    request.refresh_from_db()
    return request


PAGES = [
    # (path builder, a sentence of that page)
    (lambda r: "/", "Is your face in a scraped face database?"),
    (lambda r: "/", "What we do with your selfie"),
    (lambda r: "/start/", "Step 1 of 4: your e-mail address"),
    (lambda r: "/start/sent/", "Check your e-mail"),
    (lambda r: "/verify/nonsense/", "This link is not valid"),
    (lambda r: "/package/nonsense/", "This download is not available"),
    (lambda r: "/transparency/", "Published audit heads"),
    (lambda r: "/transparency/", "How the requests received were answered"),
    (lambda r: "/acknowledge/nonsense/", "This link is not valid"),
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_public_page_is_in_the_chosen_language(client, language):
    for path, english in PAGES:
        status = 404 if "nonsense" in path(None) else 200
        page = get(client, language, path(None), status)
        assert translated(language, english) in page, (path(None), english)
        if language != "en":
            assert english not in page
        assert f'<html lang="{language}">' in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_request_page_is_in_the_chosen_language(client, language):
    unverified = intake.start_request(email=f"{language}.new@example.org", language=language)
    page = get(client, language, f"/verify/{tokens.verification_token(unverified)}/")
    assert translated(language, "Confirm my e-mail address") in page

    verified = request_in("verified", language, client)
    page = get(client, language, f"/r/{tokens.access_token(verified)}/selfie/")
    assert translated(language, "Step 2 of 4: your selfie") in page
    assert translated(language, "Search for my face") in page
    page = get(client, language, f"/r/{tokens.access_token(verified)}/live/")
    assert translated(language, "Start the camera check") in page
    page = get(Client(), language, f"/r/{tokens.access_token(verified)}/selfie/", 403)
    assert translated(language, "Confirm your e-mail address in this browser") in page

    closed = request_in("withdrawn", language, client)
    page = get(client, language, f"/r/{tokens.access_token(closed)}/matches/", 410)
    assert translated(language, "This request is closed") in page

    searching = request_in("searching", language, client)
    page = get(client, language, f"/r/{tokens.access_token(searching)}/matches/")
    assert translated(language, "Step 3 of 4: searching") in page

    ready = request_in("matches_ready", language, client)
    page = get(client, language, f"/r/{tokens.access_token(ready)}/matches/")
    assert translated(language, "We found no face in the database that matches your selfie.") \
        in page
    assert translated(language, "Step 4 of 4: your request") in page

    filed = request_in("awaiting_review", language, client, access=True,
                       received_at=timezone.now())
    page = get(client, language, f"/r/{tokens.access_token(filed)}/status/")
    assert translated(language, "What happens next") in page
    assert translated(language, "Withdraw my request") in page
    assert translated(language, "E-mail address confirmed") in page  # the timeline


def message(kind: str, request: RightsRequest, language: str, **context):
    outbound = OutboundEmail.objects.create(
        request=request, reference=request.reference, kind=kind,
        event_key=f"{kind}:{request.reference}:test", recipient="x@example.org",
        language=language, context=context)
    return delivery.build_message(outbound)


#: The DPO's own words, which reach the person as written, in any language.
EXTENSION_REASON = "412 photos on 3 sites must be checked one by one"
REJECTION_REASON = "Photo 2 shows your son, not you"

EMAILS = {
    "verify_email": ("Confirm your e-mail address to search for your face", {}),
    "matches_ready": ("The search for your face is done", {}),
    "request_withdrawn": ("Hello,", {}),
    "info_needed": ("To handle your request we need the following from you:",
                    {"question": "?"}),
    "extended": ("We will answer by %(due)s at the latest.", {"reason": EXTENSION_REASON,
                                                               "months": 1}),
    "access_ready": ("The copy of your data that you asked for (Art. 15 GDPR) is ready. "
                     "Download it from your request's status page, in the browser where you "
                     "confirmed your e-mail address:", {}),
    "erasure_done": ("A final search of the whole database (face models: %(models)s) found no "
                     "face of yours left.",
                     {"faces_erased": 2, "photos_deleted": 1, "photos_redacted": 1,
                      "recipients_notified": 1, "recipients_without_contact": 1, "photos": [],
                      "final_check": "passed", "models_checked": ["dlib"]}),
    "objection_done": ("We have accepted your objection (Art. 21 GDPR): we no longer use your "
                       "face.", {"faces_erased": 1, "photos_deleted": 1, "photos_redacted": 0,
                                 "recipients_notified": 0, "photos": []}),
    "rejected": ("We have decided not to carry out your request, for this reason:",
                 {"reason": REJECTION_REASON}),
    "links_renewed": ("A link to your request may have reached someone else, so we have "
                      "stopped every earlier link to it. From now on, follow your request with "
                      "this link:", {}),
    "request_expired": ("You can start a new request at any time.",
                        {"stage": "matches_ready", "days": 30, "hours": 720}),
    "rights_decided": ("We have decided each right you asked for:",
                       {"outcomes": [{"right": "access", "outcome": "approved", "reason": ""},
                                     {"right": "erasure", "outcome": "refused", "reason": "r"}]}),
    "request_late": ("Your request %(reference)s is late", {"due": "2027-01-01", "days_late": 1}),
    "dpo_recipients_without_contact": ("Please inform them by other means (Art. 19 GDPR) and "
                                       "add a contact address for each to the customer records. "
                                       "The person was told that you do this.",
                                       {"customers": ["Polizei"]}),
    "request_received": ("The faces you confirmed no longer appear in our customers' searches "
                         "while we handle your request.", {}),
    "dpo_new_request": ("New request to review: %(reference)s", {}),
    "dpo_job_failed": ("A job failed: request %(reference)s", {"error": "e"}),
    "dpo_due_soon": ("Request %(reference)s is due on %(due)s", {"due": "1.1.2027"}),
    "dpo_answer_received": ("Answer received: request %(reference)s", {}),
    "dpo_overdue": ("Overdue: request %(reference)s", {"due": "1.1.2027"}),
    "art19_notice": ("Notice of erasure (Art. 19 GDPR)", {"faces": 1, "customer": "c"}),
    "art19_reminder": ("Reminder: please confirm an erasure notice (Art. 19 GDPR)",
                       {"faces": 2, "customer": "c", "notified_on": "2026-01-01"}),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_email_is_in_the_chosen_language_with_both_parts(language):
    request = request_in("completed", language, access=True, erasure=True,
                         received_at=timezone.now())
    AccessPackage.objects.create(request=request, file="packages/x.zip",
                                 expires_at=timezone.now() + dt.timedelta(days=7))
    for kind, (english, context) in EMAILS.items():
        mail = message(kind, request, language, **context)
        html = mail.alternatives[0][0] if hasattr(mail.alternatives[0], "__getitem__") else \
            mail.alternatives[0].content
        expected = translated(language, english)
        if "%(" in expected:
            expected = expected.split("%(")[0].strip()
        assert expected in mail.subject + mail.body, (kind, expected)
        assert expected.replace("'", "&#x27;") in html or expected in html, (kind, "html")
        assert f'lang="{language}"' in html
        # The DPO's reason reaches the person, in both parts.
        if "reason" in context:
            assert context["reason"] in mail.body, (kind, "reason")
            assert context["reason"] in html, (kind, "reason in html")
