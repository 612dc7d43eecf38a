"""Objection (Art. 21) end to end: filing, the DPO's approval, the job,
suppression and the e-mails; keeping the template is an unticked, separate
choice; a person whose selfie matched nothing can still object."""

import io

import pytest
from django.core.management import call_command
from django.test import Client

from search.ingestion import IngestReport, ingest_image
from search.matching import find_all_candidates
from search.models import Face, Suppression
from subjects.core import tokens
from subjects.jobs import selfie_search
from subjects.jobs.delivery import build_message
from subjects.models import OutboundEmail
from subjects.person import intake, selfie
from tests.conftest import FACES_DIR
from tests.mail import text_part
from tests.subjects.dpo_helpers import log_in_verified, make_dpo
from tests.subjects.helpers import confirm_in, wait_for_state
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world
from tests.subjects.test_execution import embedding_of


def refused_at_ingest(file_name: str) -> bool:
    report = IngestReport()
    stored = ingest_image((FACES_DIR / file_name).read_bytes(), file_name=file_name,
                          site="recrawl.example", source_url=f"https://recrawl.example/{file_name}",
                          model="dlib", report=report)
    return stored is None and report.suppressed == 1


@pytest.mark.worker
def test_an_objection_runs_from_filing_through_the_dpo_and_the_job_to_suppression(
        transactional_db, celery_worker, inbox):
    address = "objector@example.org"
    world = seed_world("-objection")
    request = file_via_worker(address, kinds=["objection"], keep_template="yes")
    assert request.state == "awaiting_review" and request.objection and request.keep_template
    obama = {world["obama_group"].pk, *(f.pk for f in world["obama_solo"])}
    assert set(Face.objects.filter(restricted=True).values_list("pk", flat=True)) == obama
    [receipt] = inbox.wait_for(address, subject_contains="We have received your request")
    assert request.reference in text_part(receipt)

    # The DPO approves it on the dashboard.
    dpo = log_in_verified(Client(), make_dpo()[0])
    response = dpo.post(f"/dpo/requests/{request.reference}/actions/approve/")
    assert response.status_code == 302
    request = wait_for_state(request, "completed")
    assert request.events.filter(action="approved", actor="dpo:dora.dpo@example.org").exists()

    # The job: his faces are gone, the others stay, his template is kept for one purpose.
    assert find_all_candidates(embedding_of("obama_3.jpg"), threshold=0.6) == []
    assert Face.objects.filter(pk__in=[world["biden_group"].pk, world["biden_solo"].pk]).count() \
        == 2
    [kept] = Suppression.objects.filter(request_reference=request.reference)
    assert (kept.model, kept.reason) == ("dlib", "objection")
    assert request.selfie_embedding is None
    assert refused_at_ingest("obama_5.jpg")

    # The e-mails: the person's, from the job's result, and Art. 19 to both customers.
    [done] = inbox.wait_for(address, subject_contains="Your objection has been carried out")
    body = text_part(done)
    result = request.jobs.get().result
    assert "We have accepted your objection (Art. 21 GDPR)" in body
    assert f"We have erased {result['faces_erased']} faces of yours" in body
    assert "we keep your face template only to refuse your face" in body
    assert "(face models: dlib) found no face of yours left" in body
    for customer in world["customers"]:
        # Art. 19 covers the restriction at filing and the erasure: one notice each.
        for subject in ("Notice of erasure", "Notice of restriction"):
            assert len(inbox.wait_for(customer.contact_email, subject_contains=subject)) == 1


@pytest.mark.django_db
def test_a_person_with_no_match_can_object_and_their_template_then_blocks_collection(client):
    seed_world("-nomatch")
    request = intake.start_request(email="not.found@example.org", language="en")
    request = confirm_in(client, request)
    request = selfie.submit_selfie(request, (FACES_DIR / "kit_harington_1.jpg").read_bytes(),
                                   live=True)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    request.refresh_from_db()
    assert request.state == "matches_ready" and not request.matches.exists()
    token = tokens.access_token(request)

    page = client.get(f"/r/{token}/matches/").content.decode()
    assert "We found no face in the database that matches your selfie." in page
    assert 'name="kinds" value="objection"' in page
    assert 'name="kinds" value="erasure"' not in page
    # Keeping the template: a separate box, with its own explanation, not ticked.
    assert '<input type="checkbox" name="keep_template" value="yes" id="keep_template" ' \
           'aria-describedby="keep_template_help">' in page
    assert "only for one purpose: to recognise your face in newly collected photos" in page

    # Erasure needs a face; an objection does not.
    refused = client.post(f"/r/{token}/file/", {"kinds": ["erasure"], "keep_template": "yes"})
    assert refused.status_code == 400
    response = client.post(f"/r/{token}/file/", {"kinds": ["objection"], "keep_template": "yes"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.state, request.objection, request.keep_template) == (
        "awaiting_review", True, True)

    request = carry_out_in_process(request)
    assert request.state == "completed"
    [kept] = Suppression.objects.filter(request_reference=request.reference)
    assert kept.reason == "objection"
    # Kit Harington's face is no longer collected, from another photo of him.
    assert refused_at_ingest("kit_harington_2.jpg")
    body = text_part_of(request, "objection_done")
    assert "We found no face of yours to erase." in body
    assert "we keep your face template only to refuse your face" in body


@pytest.mark.django_db
def test_an_objection_without_the_box_ticked_keeps_no_template():
    seed_world("-unticked")
    request = file_via_worker("unticked@example.org", kinds=["objection"], keep_template="",
                              in_process=True)
    assert request.keep_template is False
    request = carry_out_in_process(request)
    assert not Suppression.objects.filter(request_reference=request.reference).exists()
    assert "Your face template has been deleted." in text_part_of(request, "objection_done")


def text_part_of(request, kind: str) -> str:
    return build_message(OutboundEmail.objects.get(request=request, kind=kind)).body


@pytest.mark.django_db
def test_withdrawing_consent_deletes_the_kept_template_and_collection_resumes():
    seed_world("-withdraw")
    request = file_via_worker("withdraws@example.org", kinds=["objection"], keep_template="yes",
                              in_process=True)
    request = carry_out_in_process(request)
    assert refused_at_ingest("obama_5.jpg")
    out = io.StringIO()
    call_command("forget_template", request.reference.lower(), "--actor", "dora", stdout=out)
    assert "Deleted 1 template(s)" in out.getvalue()
    assert not Suppression.objects.filter(request_reference=request.reference).exists()
    event = request.events.order_by("pk").last()
    assert (event.action, event.actor) == ("template_consent_withdrawn", "dora")
    assert not refused_at_ingest("obama_5.jpg")  # the same photo is collected again
