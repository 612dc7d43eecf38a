"""A decision per right: access, erasure and objection each approved or
refused on a ground valid for that right; only what was approved is carried
out, and the person reads each right's outcome. An extension needs a ground,
and the person reads it."""

import pytest
from django.test import Client

from search.models import Face
from subjects.core import tokens
from subjects.jobs import delivery, runner
from subjects.models import AccessPackage, OutboundEmail, RightDecision
from subjects.review import actions, decisions
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request
from tests.subjects.helpers import confirmed_again_in
from tests.subjects.scenario import file_via_worker, seed_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def dpo_client():
    return log_in_verified(Client(), make_dpo()[0])


def reject_choices(page: str) -> set[str]:
    """The reasons the request page's rejection form offers."""
    form = page.split('class="action action-reject"', 1)[1].split("</form>", 1)[0]
    return {part.split('"', 1)[0] for part in form.split('<option value="')[1:]}


def test_art_17_3_is_not_offered_for_an_access_only_request(dpo_client):
    access = make_request("awaiting_review", kinds=("access",))
    erasure = make_request("awaiting_review", kinds=("erasure",))
    objection = make_request("awaiting_review", kinds=("objection",))
    pages = {r.reference: dpo_client.get(f"/dpo/requests/{r.reference}/").content.decode()
             for r in (access, erasure, objection)}
    assert reject_choices(pages[access.reference]) == {"", "not_found", "other"}
    assert reject_choices(pages[erasure.reference]) == {
        "", "not_found", "legal_obligation", "legal_claims", "other"}
    assert reject_choices(pages[objection.reference]) == {
        "", "not_found", "compelling_grounds", "other"}
    # Posted anyway (or through the API), Art. 17(3)(e) cannot refuse access.
    response = dpo_client.post(f"/dpo/requests/{access.reference}/actions/reject/", {
        "reject-reason_template": "legal_claims", "reject-reason": "Evidence in a case."})
    assert response.status_code == 400
    access.refresh_from_db()
    assert access.state == "awaiting_review"
    with pytest.raises(decisions.DecisionRefused, match="does not apply to every right"):
        actions.perform(access, actions.REJECT, actor="dpo",
                        data={"reason_template": "compelling_grounds", "reason": "x"})
    # Nor may Art. 21(1) refuse an erasure, decided right by right.
    both = make_request("awaiting_review", kinds=("access", "erasure"))
    with pytest.raises(decisions.DecisionRefused, match="cannot refuse"):
        actions.perform(both, actions.APPROVE, actor="dpo",
                        data={"erasure_refusal": "compelling_grounds", "erasure_reason": "x"})
    both.refresh_from_db()
    assert both.state == "awaiting_review" and not both.jobs.exists()


def test_access_approved_and_erasure_refused_delivers_the_package_and_says_both(dpo_client):
    seed_world("-per-right")
    request = file_via_worker("both.rights@example.org", kinds=["access", "erasure"],
                              in_process=True)
    faces = set(request.matches.filter(decision="mine").values_list("face_id", flat=True))
    assert faces
    response = dpo_client.post(f"/dpo/requests/{request.reference}/actions/approve/", {
        "approve-access_refusal": "",
        "approve-erasure_refusal": "legal_claims",
        "approve-erasure_reason": "The photos are evidence in a pending court case.",
        # The confirmation page's "yes" (issue 35: nothing irreversible in one click).
        "confirmed": "yes",
    })
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "in_progress"
    # Only what was approved is carried out: the package, no erasure.
    assert list(request.jobs.values_list("kind", flat=True)) == ["access"]
    runner.run_request_jobs(request.pk, owner="test")
    request.refresh_from_db()
    assert request.state == "completed"
    assert AccessPackage.objects.get(request=request).file
    assert set(Face.objects.filter(pk__in=faces).values_list("pk", flat=True)) == faces
    assert dict(request.right_decisions.values_list("right", "outcome")) == {
        "access": "approved", "erasure": "refused"}
    refusal = RightDecision.objects.get(request=request, right="erasure")
    assert refusal.ground == "legal_claims"

    decided = delivery.build_message(OutboundEmail.objects.get(request=request,
                                                               kind="rights_decided"))
    for part in (decided.body, decided.alternatives[0][0]):
        assert "Access (Art. 15)" in part and "Erasure (Art. 17)" in part
        assert "approved. We are carrying it out" in part
        assert "refused, for this reason:" in part
        assert "(Art. 17(3)(e) GDPR)" in part
        assert "The photos are evidence in a pending court case." in part
        assert "go to court (Art. 77 and 79 GDPR)" in part
        # Art. 18(3): told before the restriction lifts (at completion).
        assert "until we have carried out the rest of your request; then their restriction " \
               "is lifted (Art. 18(3) GDPR)" in part.replace("&#x27;", "'")
    assert "We have decided not to carry out your request" not in decided.body
    ready = delivery.build_message(OutboundEmail.objects.get(request=request,
                                                             kind="access_ready"))
    assert "is ready" in ready.body
    assert not OutboundEmail.objects.filter(request=request, kind__in=[
        "rejected", "erasure_done", "objection_done"]).exists()

    browser = Client()
    confirmed_again_in(browser, request)
    page = browser.get(f"/r/{tokens.access_token(request)}/status/").content.decode()
    assert "Access (Art. 15)</dt><dd>Approved" in page
    assert "Erasure (Art. 17)</dt><dd>Refused, for this reason:" in page
    assert "The photos are evidence in a pending court case." in page
    assert "Download the copy of your data (ZIP)" in page
    assert "and the right to go to court (Art. 77 and 79 GDPR)" in page


def test_an_extension_needs_a_ground_and_the_email_quotes_it(dpo_client):
    request = make_request("awaiting_review", received_days_ago=2, language="de")
    base = f"/dpo/requests/{request.reference}/actions"
    refused = dpo_client.post(f"{base}/extend/", {"extend-months": "1",
                                                  "extend-reason": "Viele Fotos."})
    assert refused.status_code == 400
    request.refresh_from_db()
    assert request.extension_months == 0
    assert not OutboundEmail.objects.filter(request=request, kind="extended").exists()
    with pytest.raises(decisions.DecisionRefused, match="needs one of the grounds"):
        decisions.extend_deadline(request, actor="dpo", months=1, reason="Viele Fotos.",
                                  ground="")
    assert dpo_client.post(f"{base}/extend/", {
        "extend-months": "1", "extend-ground": "complexity",
        "extend-reason": "Ihre Fotos stammen aus über 200 Quellen."}).status_code == 302
    request.refresh_from_db()
    assert (request.extension_months, request.extension_ground) == (1, "complexity")
    mail = delivery.build_message(OutboundEmail.objects.get(request=request, kind="extended"))
    for part in (mail.body, mail.alternatives[0][0]):
        # Cited as the glossary says (locale/glossary.txt).
        assert "Grund (Art. 12(3) DSGVO): Komplexität des Antrags." in part
        assert "Ihre Fotos stammen aus über 200 Quellen." in part
