"""No personal data in logs: the whole journey, with every log captured (the
web process and the worker), holds neither the e-mail address nor the
selfie's file name; request references are there instead."""

import logging

import pytest

from subjects.models import RightsRequest
from subjects.review import decisions
from tests.mail import text_part
from tests.subjects.helpers import ingest, links_in, path_of, upload, wait_for_state

pytestmark = [pytest.mark.worker]

ADDRESS = "zoe.private.person@example.org"
SELFIE_NAME = "zoe-private-holiday-selfie.jpg"


def test_the_whole_journey_logs_no_address_and_no_selfie_name(
    transactional_db, celery_worker, inbox, client, caplog
):
    caplog.set_level(logging.DEBUG)
    worker_log_start = celery_worker.log_path.stat().st_size
    ingest("obama_1.jpg", "biden_1.jpg")

    client.post("/start/", {"email": ADDRESS, "language": "en", "consent": "on"})
    [mail] = inbox.wait_for(ADDRESS)
    verify = [u for u in links_in(text_part(mail)) if "/verify/" in u][0]
    selfie_page = client.post(path_of(verify))["Location"] + "selfie/"
    selfie = upload("obama_2.jpg")
    selfie.name = SELFIE_NAME
    assert client.post(selfie_page, {"photo": selfie}).status_code == 302
    request = wait_for_state(RightsRequest.objects.get(email=ADDRESS), "identity_review")
    decisions.confirm_requester(request, actor="dpo.test")
    answers = {f"decision_{m.pk}": "mine" for m in request.matches.all()}
    client.post(selfie_page.replace("/selfie/", "/file/"),
                {**answers, "kinds": ["access", "erasure"], "checked": "yes"})
    request.refresh_from_db()
    assert request.state == "awaiting_review" and request.kinds == ["access", "erasure"]
    decisions.approve_request(request, actor="dpo.test")
    wait_for_state(request, "completed")
    inbox.wait_for(ADDRESS, subject_contains="Your data has been erased")

    with open(celery_worker.log_path, encoding="utf-8", errors="replace") as handle:
        handle.seek(worker_log_start)
        worker_log = handle.read()
    # Our own SMTP test server (mail.log) is not the portal: leave it out.
    portal_log = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for log in (worker_log, portal_log):
        assert ADDRESS not in log and "zoe.private" not in log
        assert SELFIE_NAME not in log and "holiday-selfie" not in log
    assert request.reference in portal_log + worker_log
