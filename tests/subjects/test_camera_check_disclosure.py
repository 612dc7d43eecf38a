"""Disclosure in two steps: a passed camera check shows the face crops
only; the access package, which says where the faces appear, is made only
after the DPO's decision, even where requests are approved automatically."""

import pytest

from subjects.models import RequestJob
from subjects.person import filing
from subjects.review import actions
from tests.subjects.dpo_helpers import make_request

pytestmark = pytest.mark.django_db


def test_an_access_request_resting_on_the_camera_check_waits_for_the_dpo(settings):
    settings.AUTO_APPROVE_REQUESTS = True
    request = make_request("matches_ready", kinds=(), received_days_ago=None, selfie_live=True)
    request = filing.file_request(request, kinds=["access"], keep_template="no", decisions={})
    request.refresh_from_db()
    assert request.state == "awaiting_review"
    assert not RequestJob.objects.filter(request=request).exists()
    assert not hasattr(request, "package") or request.package is None
    assert request.emails.filter(kind="dpo_new_request").exists()

    actions.perform(request, actions.APPROVE, actor="dora")
    assert RequestJob.objects.filter(request=request, kind="access").exists()

