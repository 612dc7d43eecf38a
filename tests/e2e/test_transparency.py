"""The public transparency page in Chromium: the portal's own script draws
its charts under the real Content-Security-Policy, and axe-core finds no
serious or critical accessibility problem, in English and in Dutch. The
page by which a recipient confirms an Art. 19 notice too."""

import datetime as dt

import pytest
from django.utils import timezone

from search.models import Customer
from subjects.core import notices, tokens
from subjects.jobs.audit_heads import publish_audit_head
from subjects.models import RightsRequest
from tests.e2e.conftest import check_accessibility, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def some_register() -> RightsRequest:
    """Enough requests over three months that the charts have bars to draw."""
    now = timezone.now()
    rows = []
    for number in range(60):
        received = now - dt.timedelta(days=number + 1)
        closed = received + dt.timedelta(days=number % 20) if number % 4 else None
        rows.append(RightsRequest(
            state="completed" if closed and closed < now else "awaiting_review",
            received_at=received, created_at=received, verified_at=received,
            closed_at=closed if closed and closed < now else None,
            access=True, erasure=number % 2 == 0, objection=number % 5 == 0,
            extension_months=1 if number % 6 == 0 else 0,
            extension_ground="complexity" if number % 6 == 0 else ""))
    return RightsRequest.objects.bulk_create(rows)[0]


def test_the_transparency_page_draws_its_charts_and_passes_axe(transactional_db, site, browser,
                                                               page):
    request = some_register()
    publish_audit_head()
    customer = Customer.objects.create(name="E2E Bank", kind="bank", country="BE",
                                       account="paid", contact_email="dpo@e2e-bank.example")
    notice = notices.record_notice(request, customer, faces=2)

    # Under the real Content-Security-Policy: the charts are drawn, nothing refused.
    strict = browser.new_context(viewport={"width": 1200, "height": 900})
    plain = strict.new_page()
    problems = []
    plain.on("pageerror", lambda error: problems.append(str(error)))
    plain.on("console", lambda message: problems.append(message.text)
             if message.type == "error" and "Failed to load resource" not in message.text
             else None)
    # What the page asked for and did not get (the browser's own favicon aside).
    plain.on("response", lambda response: problems.append(f"{response.status} {response.url}")
             if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    plain.goto(f"{site}/transparency/")
    plain.wait_for_selector("figure.chart svg")
    # Each figure is drawn, or says that it has too little to show.
    drawn = plain.locator("figure.chart svg").count()
    empty = plain.locator("figure.chart p.empty").count()
    assert drawn >= 3 and drawn + empty == plain.locator("figure.chart").count() == 8
    assert plain.locator("figure.chart svg rect").count() > 0
    assert problems == []
    strict.close()

    page.goto(f"{site}/transparency/")
    page.wait_for_selector("figure.chart svg")
    assert page.locator("h1").inner_text() == "Transparency"
    check_accessibility(page, "transparency (en)")
    screenshot(page, "11-transparency")
    page.select_option("#language", "nl")
    page.click("form.lang button[type=submit]")
    page.wait_for_selector("html[lang=nl]")
    assert page.locator("h1").inner_text() == "Transparantie"
    page.wait_for_selector("figure.chart svg")
    check_accessibility(page, "transparency (nl)")

    page.goto(f"{site}/acknowledge/{tokens.acknowledgement_token(notice)}/")
    assert "E2E Bank" in page.content()
    check_accessibility(page, "acknowledgement")
    page.check("input[value=erased]")
    page.click("main form button[type=submit]")
    page.wait_for_selector("p.confirmed")
    check_accessibility(page, "acknowledgement confirmed")


CHART_PAGE = """<!doctype html><html lang="en"><body>
<figure class="chart" id="zeros" data-chart="bars" data-labels='["2026-10","2026-11"]'
  data-series='[{"name":"median days","values":[0,0]}]' data-has-data="1"
  data-empty="No requests yet."></figure>
<figure class="chart" id="none" data-chart="bars" data-labels='["2026-10","2026-11"]'
  data-series='[{"name":"median days","values":[null,null]}]' data-empty="No requests yet.">
</figure></body></html>"""


def test_a_chart_of_zeros_draws_thin_bars_and_a_chart_without_figures_says_so(page):
    # The portal's own chart script, in Chromium: a median of 0 days in
    # every month is a figure (a thin bar on the axis for each month, its
    # value in the tooltip); no figure at all is said in words, not drawn.
    from django.conf import settings

    page.set_content(CHART_PAGE)
    page.add_script_tag(path=str(settings.BASE_DIR / "static" / "portal" / "charts.js"))
    page.wait_for_selector("#zeros svg")
    bars = page.locator("#zeros svg rect[class^='series-']")
    assert bars.count() == 2
    assert {float(bars.nth(n).get_attribute("height")) for n in range(2)} == {2.0}
    assert page.locator("#zeros svg rect title").first.text_content().endswith(": 0")
    assert page.locator("#none svg").count() == 0
    assert page.locator("#none p.empty").text_content() == "No requests yet."
