"""The erasure e-mail says only what the job recorded: its figures are the
job's result, a customer without a contact address is counted as such (and
handed to the DPO), and a final check that could not run is said not to
have run."""

import pytest

from subjects.jobs.delivery import build_message
from subjects.models import OutboundEmail, RightsRequest
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db


def message(request, kind: str) -> str:
    outbound = OutboundEmail.objects.get(request=request, kind=kind)
    return build_message(outbound).body


def test_the_erasure_email_states_the_jobs_figures_with_an_unreachable_recipient_and_no_check():
    world = seed_world("-report")
    police, bank = world["customers"]
    police.contact_email = ""  # a customer the controller has no address for
    police.save()
    request = file_via_worker("report.figures@example.org", kinds=["erasure"],
                              keep_template="no", in_process=True)
    # The face template is gone before the job runs: its final search cannot run.
    RightsRequest.objects.filter(pk=request.pk).update(selfie_embedding=None)
    request = carry_out_in_process(request)
    assert request.state == "completed"
    result = request.jobs.get().result
    assert result["final_check"] == "not_run"
    assert (result["recipients_notified"], result["recipients_without_contact"]) == (1, 1)
    assert (result["faces_erased"], result["photos_deleted"], result["photos_redacted"]) == \
        (3, 2, 1)

    body = message(request, "erasure_done")
    assert f"We have erased {result['faces_erased']} faces of yours" in body
    assert f"{result['photos_deleted']} photos in which only you appeared were deleted" in body
    assert f"In {result['photos_redacted']} photo with other people" in body
    assert (f"We have told the {result['recipients_notified']} customer that received your "
            "face") in body
    assert (f"{result['recipients_without_contact']} other customer that received your face "
            "has no contact address with us") in body
    assert "our Data Protection Officer informs it by other means" in body
    assert "We could not run a final search for any face of yours left" in body
    assert "found no face of yours left" not in body
    # Only the customer with an address got the Art. 19 notice; the DPO is
    # asked to reach the other one.
    assert list(OutboundEmail.objects.filter(request=request, kind="art19_notice")
                .values_list("recipient", flat=True)) == [bank.contact_email]
    dpo = message(request, "dpo_recipients_without_contact")
    assert "Polizei Test" in dpo and "Test Bank" not in dpo


def test_the_erasure_email_names_the_models_the_final_search_ran_with():
    seed_world("-checked")
    request = file_via_worker("report.checked@example.org", kinds=["erasure"],
                              keep_template="yes", in_process=True)
    request = carry_out_in_process(request)
    result = request.jobs.get().result
    assert (result["final_check"], result["models_checked"]) == ("passed", ["dlib"])
    body = message(request, "erasure_done")
    assert "A final search of the whole database (face models: dlib) found no face of yours " \
           "left." in body
    assert f"We have told the {result['recipients_notified']} customers" in body
    assert "no contact address" not in body
    assert "we keep your face template only to refuse your face" in body
