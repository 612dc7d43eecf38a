"""The DPO's queue: what needs the DPO's action first, identity checks
counted as open work, counters in the DPO's own words."""

import re

import pytest
from django.test import Client

from subjects.dpo import selectors
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request

pytestmark = pytest.mark.django_db


def test_the_queue_puts_what_needs_action_first_and_counts_identity_checks_as_open():
    completed = make_request("completed", received_days_ago=40)
    check = make_request("identity_review", received_days_ago=None)
    review = make_request("awaiting_review", received_days_ago=2)
    running = make_request("in_progress", received_days_ago=30)
    waiting = make_request("info_requested", received_days_ago=10)
    dora, _ = make_dpo()
    desk = log_in_verified(Client(), dora)
    page = desk.get("/dpo/?sort=due").content.decode()
    order = [m for m in re.findall(r"FR-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", page)]
    order = list(dict.fromkeys(order))
    position = {r.reference: order.index(r.reference) for r in
                (completed, check, review, running, waiting)}
    needs = max(position[check.reference], position[review.reference])
    assert needs < min(position[running.reference], position[waiting.reference])
    assert position[completed.reference] > max(position.values()) - 1

    counts = selectors.counts()
    assert counts.needs_action == 2
    assert counts.open == 4  # review, in progress, waiting for information, identity check
    assert re.search(r"Needs your action <strong>2</strong>", page)
    assert re.search(r"Open \(identity checks included\) <strong>4</strong>", page)
    counters = page[page.index('class="counts states"'):]
    counters = counters[:counters.index("</ul>")]
    assert "from you" not in counters
    assert "Waiting for information from the person <strong>1</strong>" in counters
