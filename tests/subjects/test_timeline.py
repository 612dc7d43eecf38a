"""The timeline speaks in sentences, for the person and for the DPO: every
audit event has its label in every language, and the DPO's timeline shows
labels, states and e-mail subjects, never codes."""

import re

import pytest
from django.test import Client
from django.utils import translation

from subjects.core import events
from subjects.core.events import Action
from subjects.core.states import State
from subjects.core.transitions import transition
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["nl", "fr", "de"])
def test_every_audit_event_has_its_own_label_in_every_language(language):
    with translation.override("en"):
        english = {action: str(action.label) for action in Action}
    assert len(set(english.values())) == len(english), "one label per event"
    with translation.override(language):
        untranslated = [a.value for a in Action if str(a.label) == english[a]]
    assert untranslated == []


def test_the_dpos_timeline_shows_sentences_not_codes():
    request = make_request("searching", email="timeline.reader@example.org",
                           received_days_ago=None)
    events.liveness_failed(request, code="turn_not_seen")
    transition(request, State.IDENTITY_REVIEW, actor="system", action=Action.SEARCH_DONE)
    dora, _ = make_dpo()
    desk = log_in_verified(Client(), dora)
    page = desk.get(f"/dpo/requests/{request.reference}/").content.decode()
    timeline = page[page.index('id="timeline-heading"'):]
    timeline = timeline[:timeline.index("</ol>")]
    for code in ("liveness_failed", "search_done", "email_verified", "identity_review",
                 "verify_email", "→"):
        assert code not in timeline, code
    assert "The camera check did not pass" in timeline
    assert "Confirm your e-mail address to search for your face" in timeline
    assert "now “Waiting for your identity check”" in timeline
    assert re.search(r"\(by the person\)", timeline)
