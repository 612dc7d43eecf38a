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
    references = r"FR-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}"
    for address in ("/dpo/?sort=due", "/dpo/?sort=due&everything=1"):
        page = desk.get(address).content.decode()
        order = list(dict.fromkeys(re.findall(references, page)))
        position = {r.reference: order.index(r.reference) for r in
                    (check, review, running, waiting)}
        needs = max(position[check.reference], position[review.reference])
        assert needs < min(position[running.reference], position[waiting.reference]), address
    # Closed requests only when asked for, and then last.
    assert completed.reference not in desk.get("/dpo/?sort=due").content.decode()
    assert order[-1] == completed.reference
    page = desk.get("/dpo/?sort=due").content.decode()

    counts = selectors.counts()
    assert counts.needs_action == 2
    assert counts.open == 4  # review, in progress, waiting for information, identity check
    assert re.search(r"Needs your action <strong>2</strong>", page)
    assert re.search(r"Open \(identity checks included\) <strong>4</strong>", page)
    counters = page[page.index('class="counts states"'):]
    counters = counters[:counters.index("</ul>")]
    assert "from you" not in counters
    assert "Waiting for information from the person <strong>1</strong>" in counters


def test_the_figures_agree_with_their_own_tables():
    import datetime as dt
    import html
    import json

    from django.utils import timezone

    # One request asking for two things, completed as soon as received.
    now = timezone.now()
    make_request("completed", received_days_ago=0, closed_at=now + dt.timedelta(minutes=5),
                 kinds=("access", "erasure"))
    dora, _ = make_dpo()
    page = log_in_verified(Client(), dora).get("/dpo/figures/").content.decode()

    weekly = page[page.index('id="per-week-heading"'):]
    weekly = weekly[:weekly.index("</section>")]
    series = json.loads(html.unescape(re.search(r'data-series="([^"]*)"', weekly).group(1)))
    assert [s["name"] for s in series] == ["Requests"]
    assert sum(v for v in series[0]["values"] if v) == 1, "a request is counted once"
    week = (timezone.localdate() - dt.timedelta(days=timezone.localdate().weekday())).isoformat()
    assert re.search(rf"<th scope=\"row\">{week}</th><td>1</td><td>1</td><td>1</td><td>0</td>",
                     weekly)

    completion = page[page.index('id="completion-heading"'):]
    completion = completion[:completion.index("</section>")]
    figure = re.search(r"<figure[^>]*>", completion).group(0)
    assert 'data-has-data="1"' in figure
    assert re.search(r"<td>0\.0</td><td>1</td>", completion)
