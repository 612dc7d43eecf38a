"""Art. 19 covers restriction (Art. 18) as well as erasure: when a person's
faces are restricted and when the restriction is lifted, every customer
whose searches returned them is told."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from search.models import Face
from subjects.core.closing import lift_due_restrictions
from subjects.jobs.delivery import build_message
from subjects.models import OutboundEmail
from subjects.review import decisions
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db


def sent(request, kind: str) -> dict[str, str]:
    """Recipient -> the text of each message of ``kind`` for the request."""
    return {m.recipient: build_message(m).body
            for m in OutboundEmail.objects.filter(request=request, kind=kind)}


def test_restriction_and_its_lifting_are_told_to_the_customers_that_received_the_faces():
    world = seed_world("-restrict")
    police, bank = world["customers"]
    request = file_via_worker("restricted@example.org", kinds=["access"], in_process=True)
    his = {world["obama_solo"][0].pk, world["obama_group"].pk}
    assert his <= set(Face.objects.filter(restricted=True).values_list("pk", flat=True))

    told = sent(request, "art19_restricted")
    assert set(told) == {police.contact_email, bank.contact_email}
    text = told[police.contact_email]
    assert "we have restricted the processing of 1 face that our service returned in your " \
           "searches (Art. 18 GDPR)" in text
    assert "Under Art. 19 GDPR we inform you of this restriction" in text
    assert f"(faces {world['obama_solo'][0].pk})" in text
    # Biden's face, which the police also received, is not named.
    named = re.findall(r"\(faces ([0-9, ]+)\)", text)
    assert named == [str(world["obama_solo"][0].pk)]
    assert not OutboundEmail.objects.filter(request=request,
                                            kind="art19_restriction_lifted").exists()

    decisions.reject_request(request, actor="dpo", reason="Not found any more.",
                             ground="not_found")
    # Art. 18(3): the person is told first, with the date; the faces stay
    # restricted until then, and no customer hears of a lifting yet.
    request.refresh_from_db()
    lifts_on = timezone.localdate(request.restriction_lifts_at)
    assert lifts_on == timezone.localdate() + dt.timedelta(days=14)
    rejected = build_message(OutboundEmail.objects.get(request=request, kind="rejected")).body
    assert (f"The faces you confirmed stay out of our customers' searches until "
            f"{lifts_on.isoformat()}; then their restriction is lifted (Art. 18(3) GDPR).") \
        in rejected
    assert Face.objects.filter(pk__in=his, restricted=True).count() == len(his)
    assert lift_due_restrictions(now=timezone.now() + dt.timedelta(days=13)) == 0
    assert not OutboundEmail.objects.filter(request=request,
                                            kind="art19_restriction_lifted").exists()
    # The announced day: lifted, and the customers told.
    assert lift_due_restrictions(now=timezone.now() + dt.timedelta(days=14, hours=1)) == 1
    assert not Face.objects.filter(pk__in=his, restricted=True).exists()
    request.refresh_from_db()
    assert request.restriction_lifts_at is None
    assert lift_due_restrictions(now=timezone.now() + dt.timedelta(days=15)) == 0
    lifted = sent(request, "art19_restriction_lifted")
    assert set(lifted) == {police.contact_email, bank.contact_email}
    assert "We have lifted the restriction of processing (Art. 18 GDPR) of 1 face" in \
        lifted[bank.contact_email]
    assert f"(faces {world['obama_group'].pk})" in lifted[bank.contact_email]
    html = build_message(OutboundEmail.objects.get(
        request=request, kind="art19_restriction_lifted", recipient=bank.contact_email))
    assert "We have lifted the restriction" in html.alternatives[0][0]


def test_an_erasure_ends_with_the_erasure_notice_not_a_lifting():
    world = seed_world("-erased")
    police, bank = world["customers"]
    request = carry_out_in_process(
        file_via_worker("erased.faces@example.org", kinds=["erasure"], in_process=True))
    assert request.state == "completed"
    assert set(sent(request, "art19_restricted")) == {police.contact_email, bank.contact_email}
    assert set(sent(request, "art19_notice")) == {police.contact_email, bank.contact_email}
    # The faces are gone: nothing is "lifted".
    assert not OutboundEmail.objects.filter(request=request,
                                            kind="art19_restriction_lifted").exists()
