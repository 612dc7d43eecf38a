"""The matches page as a person meets it: an answer for every face, the
faces an erasure will erase shown before it is sent (and to the DPO before
approving), and only the faces the person confirmed erased."""

import re

import pytest
from django.test import Client

from subjects.core import tokens
from subjects.core.faces import faces_of_subject
from subjects.jobs import selfie_search
from subjects.models import Match, RightsRequest
from subjects.person import intake, selfie
from tests.conftest import FACES_DIR
from tests.subjects.dpo_helpers import log_in_verified, make_dpo
from tests.subjects.helpers import confirm_in
from tests.subjects.scenario import seed_world


def searched_in(client: Client, email: str) -> RightsRequest:
    """A person whose browser confirmed the address and whose selfie (from a
    passed camera check) was searched here."""
    request = intake.start_request(email=email, language="en")
    request = confirm_in(client, request)
    request = selfie.submit_selfie(request, (FACES_DIR / "obama_2.jpg").read_bytes(), live=True)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    request.refresh_from_db()
    assert request.state == "matches_ready"
    return request


@pytest.mark.django_db
def test_unanswered_faces_are_refused_next_to_the_button_and_nothing_is_erased_unconfirmed():
    world = seed_world("-answers")
    person = Client()
    request = searched_in(person, "answers.each@example.org")
    token = tokens.access_token(request)
    matches = list(request.matches.order_by("distance", "pk"))
    assert len(matches) >= 3
    mine = {m.pk for m in matches if m.face_id == world["obama_solo"][0].pk}

    page = person.get(f"/r/{token}/matches/").content.decode()
    assert "All of these are me" in page and "None of these is me" in page
    assert page.count('<li class="match') == len(matches)

    # One face answered, the others left: refused, with the error beside the button.
    refused = person.post(f"/r/{token}/file/", {f"decision_{min(mine)}": "mine",
                                                 "kinds": ["erasure"]})
    assert refused.status_code == 400
    text = refused.content.decode()
    error = re.search(r"(\d+) faces have no answer yet", text)
    assert error and int(error.group(1)) == len(matches) - 1
    assert text.index("faces have no answer yet") > text.index('id="kind_objection"')
    assert text.index("faces have no answer yet") < text.index("Send my request")
    # What they had ticked is ticked again.
    assert re.search(rf'id="mine_{min(mine)}" value="mine" required checked', text)
    assert 'value="erasure" id="kind_erasure" checked' in text
    request.refresh_from_db()
    assert request.state == "matches_ready"
    assert not request.matches.exclude(decision="").exists()

    # Every face answered: the erasure is shown back first, with its one face.
    answers = {f"decision_{m.pk}": "mine" if m.pk in mine else "not_mine" for m in matches}
    check = person.post(f"/r/{token}/file/", {**answers, "kinds": ["erasure"]}, follow=True)
    # A page of its own, by GET: Back and reload never post again.
    assert check.redirect_chain[-1][0].startswith(f"/r/{token}/file/?")
    assert check.status_code == 200
    text = check.content.decode()
    assert "This face will be erased" in text
    assert re.findall(r'/faces/(\d+)\.jpg', text) == [str(pk) for pk in sorted(mine)]
    assert f"The {len(matches) - 1} faces you marked “Not me” stay as they are." in text
    request.refresh_from_db()
    assert request.state == "matches_ready"

    # "Change my answers" goes back with the answers kept.
    back = person.post(f"/r/{token}/file/", {**answers, "kinds": ["erasure"], "change": "yes"},
                       follow=True)
    assert re.search(rf'id="mine_{min(mine)}" value="mine" required checked', back.content.decode())

    sent = person.post(f"/r/{token}/file/", {**answers, "kinds": ["erasure"], "checked": "yes"})
    assert sent.status_code == 302
    request.refresh_from_db()
    assert request.state == "awaiting_review"
    # The erasure covers exactly the face confirmed.
    assert set(faces_of_subject(request)) == {world["obama_solo"][0].pk}

    # The DPO sees the same list above the approval.
    dora, _ = make_dpo()
    desk = log_in_verified(Client(), dora)
    detail = desk.get(f"/dpo/requests/{request.reference}/").content.decode()
    summary = detail[detail.index('id="approval-summary"'):]
    summary = summary[:summary.index("</div>")]
    assert "Approving erases this face" in summary
    assert re.findall(r"/faces/(\d+)\.jpg", summary) == [str(pk) for pk in sorted(mine)]


@pytest.mark.django_db
def test_a_face_shown_and_left_unanswered_is_not_erased_when_filed_directly():
    world = seed_world("-direct")
    request = searched_in(Client(), "files.directly@example.org")
    solo = world["obama_solo"][0]
    mine = request.matches.get(face=solo)
    from subjects.person import filing

    filing.file_request(request, kinds=["erasure"], keep_template="no",
                        decisions={mine.pk: Match.Decision.MINE})
    request.refresh_from_db()
    assert set(faces_of_subject(request)) == {solo.pk}
