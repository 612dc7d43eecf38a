"""What the person is told: the access package in full (Art. 15), the
controller, its DPO and its EU representative wherever the controller
appears, no forbidden refusal, and asking again after a request closes."""

import html
import io
import json
import zipfile
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from django.utils import timezone

from search.models import Customer, CustomerSearch, CustomerSearchResult
from subjects.core import tokens
from subjects.jobs.delivery import build_message
from subjects.models import OutboundEmail
from subjects.review import actions
from subjects.review.decisions import DecisionRefused
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import confirmed_again_in
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db

SCHEMA = json.loads((Path(settings.BASE_DIR) / "docs/access-package.schema.json").read_text())
REPRESENTATIVE = "EU Rep Ltd., Rue Haute 5, 1000 Brussels, Belgium; eu-rep@example.eu"
#: What the report says, written out here rather than read from the module
#: that writes it, so that a sentence lost from the report fails the test.
CATEGORIES_READ = [
    "Photos of you collected from websites and social media, with their address, the page they "
    "were on, the site and the date of collection.",
    "Face templates: for each face of yours in those photos, a list of numbers computed by a "
    "face model to compare faces (biometric data, Art. 9 GDPR).",
    "Records of customer searches that returned your face: which customer searched, and when.",
    "Your requests on this portal: your e-mail address and language, the template of your "
    "selfie while your request is open, your answers about the matches, dates, decisions and "
    "the audit trail of what happened.",
]
AUTOMATED_READ = ("This portal takes no decision about you based solely on automated processing "
                  "(Art. 22 GDPR)")
COMPLAINT_READ = ("Lodging a complaint with a supervisory authority (Art. 77) and going to court "
                  "(Art. 79)")


def package_of(request) -> tuple[dict, str]:
    with request.package.file.open("rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    data = json.loads(archive.read("data.json"))
    jsonschema.validate(data, SCHEMA)  # the documented schema holds
    return data, archive.read("report.html").decode()


def test_the_access_package_holds_everything_art_15_asks_for(settings):
    settings.CONTROLLER_REPRESENTATIVE = REPRESENTATIVE
    world = seed_world("-art15")
    # A third customer outside the EEA without an adequacy decision.
    agency = Customer.objects.create(name="Agency US", kind="law_enforcement", country="US",
                                     account="paid", contact_email="privacy@agency.example")
    search = CustomerSearch.objects.create(customer=agency, searched_at=timezone.now())
    CustomerSearchResult.objects.create(search=search, face=world["obama_solo"][1],
                                        distance=0.2, rank=1)
    request = file_via_worker("art15@example.org", kinds=["access"], in_process=True)
    request = carry_out_in_process(request)
    data, report = package_of(request)

    # Art. 15(1)(b): the categories of data, as the person reads them in the
    # report and as data.json states them.
    read = html.unescape(report)
    for category in CATEGORIES_READ:
        assert category in read, category
    assert data["categories"] == CATEGORIES_READ
    assert all(p["purpose"] and p["legal_basis"] for p in data["purposes"])
    assert any("Art. 9(2)(a)" in p["legal_basis"] for p in data["purposes"])
    # Art. 15(1)(h): no automated decision, said in words the person reads.
    assert data["automated_decision_making"]["used"] is False
    assert AUTOMATED_READ in read
    transfers = {t["country"]: t for t in data["transfers"]}
    assert set(transfers) == {"DE", "NL", "US"}
    assert transfers["DE"]["outside_eea"] is False
    assert transfers["US"]["outside_eea"] is True
    assert "Art. 46(2)(c)" in transfers["US"]["safeguard"]
    # The templates: described, never their numbers.
    kinds = {(t["kind"], t["model"], t["dimension"], t["count"]) for t in data["templates"]}
    assert kinds == {("selfie", "dlib", 128, 1), ("face_in_index", "dlib", 128, 3)}
    assert "embedding" not in json.dumps(data["templates"])
    # Their own request records and audit trail.
    assert [r["reference"] for r in data["your_requests"]] == [request.reference]
    actions_seen = [e["action"] for e in data["audit_events"]]
    assert actions_seen[:3] == ["created", "email_verified", "selfie_submitted"]
    assert "filed" in actions_seen and "approved" in actions_seen
    assert {e["actor"] for e in data["audit_events"]} <= {"you", "system", "dpo"}
    assert data["controller"]["representative"] == REPRESENTATIVE
    assert data["supervisory_authority"]["name"] == settings.SUPERVISORY_AUTHORITY_NAME
    # Art. 15(1)(f): the right to complain, to whom, in the report.
    assert COMPLAINT_READ in read
    assert f"You can complain to the {settings.SUPERVISORY_AUTHORITY_NAME}" in read
    for heading in ("What data we hold", "Your face templates", "Automated decisions",
                    "Where the recipients are, and what protects your data there",
                    "Why we hold it, and on what legal basis", "Your requests",
                    REPRESENTATIVE):
        assert heading in report


def test_the_controller_dpo_and_eu_representative_appear_on_pages_and_emails(client, settings):
    settings.CONTROLLER_REPRESENTATIVE = REPRESENTATIVE
    request = make_request("awaiting_review", email="shown.contacts@example.org")
    pages = [client.get("/").content.decode(),
             client.get(f"/r/{tokens.access_token(request)}/status/").content.decode()]
    outbound = OutboundEmail.objects.create(request=request, reference=request.reference,
                                            kind="request_received", event_key="contacts-test",
                                            recipient=request.email, language="en")
    message = build_message(outbound)
    for text in (*pages, message.body, message.alternatives[0][0]):
        assert settings.CONTROLLER_NAME in text.replace("&#x27;", "'")
        assert settings.DPO_EMAIL in text
        assert REPRESENTATIVE in text.replace("&#x27;", "'")
    assert settings.CONTROLLER_ADDRESS in pages[0].replace("&#x27;", "'")
    # Without a representative (a controller in the EU), none is mentioned.
    settings.CONTROLLER_REPRESENTATIVE = ""
    assert "Art. 27" not in client.get("/").content.decode()


def test_cannot_identify_you_is_no_rejection_reason_and_the_dpo_asks_instead(client):
    assert "identity" not in actions.REJECTION_REASONS
    request = make_request("awaiting_review", email="who.are.you@example.org")
    with pytest.raises(DecisionRefused):
        actions.perform(request, "reject", actor="dpo:dora", data={"reason_template": "identity"})
    dpo = log_in_verified(client, make_dpo()[0])
    page = dpo.get(f"/dpo/requests/{request.reference}/").content.decode()
    assert 'value="identity"' not in page
    response = dpo.post(f"/dpo/requests/{request.reference}/actions/ask_for_information/",
                        {"ask_for_information-question": "Could you send another selfie, "
                                                         "taken with the camera check?"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "info_requested"


def test_a_person_files_completes_and_files_the_same_kind_again(client):
    seed_world("-again")
    address = "asks.again@example.org"
    first = carry_out_in_process(file_via_worker(address, kinds=["access"], in_process=True))
    assert first.state == "completed"
    confirmed_again_in(client, first)
    status = client.get(f"/r/{tokens.access_token(first)}/status/").content.decode()
    assert "You can make a new request at any time, of any kind" in status
    assert 'href="/start/"' in status

    second = file_via_worker(address, kinds=["access"], in_process=True)
    assert second.state == "awaiting_review" and second.pk != first.pk
    second = carry_out_in_process(second)
    assert second.state == "completed"
    data, _report = package_of(second)
    assert [r["reference"] for r in data["your_requests"]] == [first.reference,
                                                                second.reference]
    assert {e["reference"] for e in data["audit_events"]} == {first.reference,
                                                              second.reference}
