"""The public transparency page: per month, aggregates of the register, each
count below the threshold shown as "fewer than 5". The figures are checked
against a count made here, independently of the page's SQL."""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import html
import io
import json
import random
import re
from unittest import mock

import pytest
from django.utils import timezone

from search.models import Customer, Suppression
from subjects.core.audit import SYSTEM, record_event
from subjects.models import RecipientNotice, RightsRequest

pytestmark = pytest.mark.django_db

THRESHOLD = 5
KINDS = ("access", "erasure", "objection")
EXTENSION_GROUNDS = ("complexity", "number", "not_recorded")
REJECTION_GROUNDS = ("identity", "not_found", "legal_obligation", "legal_claims",
                     "compelling_grounds", "unfounded", "other", "not_recorded")


# -- an independent count ---------------------------------------------------------------


def plus_months(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def percentile(values: list[int], fraction: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's
    percentile_cont)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def shown(count: int):
    return count if count >= THRESHOLD else {"fewer_than": THRESHOLD}


def at_noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


@pytest.fixture
def register():
    """200 requests received over the last three months (the current one so
    far), with answers, extensions, rejections, erasures, Art. 19 notices
    and suppression entries, and the figures counted here from the same
    list."""
    rng = random.Random(19)
    today = timezone.localdate()
    months = [plus_months(month_of(today), -n) for n in (2, 1, 0)]
    specs = []
    for number in range(200):
        month = months[number % 3]
        last_day = today.day if month == month_of(today) else \
            calendar.monthrange(month.year, month.month)[1]
        received = month.replace(day=rng.randint(1, last_day))
        kinds = {k for k in KINDS if rng.random() < 0.5} or {"access"}
        spec = {"received": received, "kinds": kinds, "extension": 0, "ext_ground": "",
                "paused": rng.choice([0, 0, 0, 3]), "rejection_ground": "",
                "closed": None}
        if rng.random() < 0.25:
            spec["extension"] = rng.choice([1, 2])
            spec["ext_ground"] = rng.choice(["complexity", "complexity", "number", ""])
        outcome = rng.choice(["completed"] * 5 + ["rejected"] * 2 + ["withdrawn", "open"])
        closed = received + dt.timedelta(days=rng.randint(0, 95))
        if outcome == "open" or closed > today:
            spec["state"] = rng.choice(["awaiting_review", "in_progress", "info_requested"])
        else:
            spec["state"], spec["closed"] = outcome, closed
        if spec["state"] == "rejected":
            spec["rejection_ground"] = rng.choice(REJECTION_GROUNDS[:-1] + ("",))
        specs.append(spec)
    # One small cell on purpose: only three objections in the middle month.
    middle = [s for s in specs if month_of(s["received"]) == months[1]]
    for n, spec in enumerate(middle):
        spec["kinds"].discard("objection")
        if n < 3:
            spec["kinds"].add("objection")

    rows = RightsRequest.objects.bulk_create([
        RightsRequest(
            email="", state=s["state"], received_at=at_noon(s["received"]),
            created_at=at_noon(s["received"]), verified_at=at_noon(s["received"]),
            closed_at=at_noon(s["closed"]) if s["closed"] else None,
            extension_months=s["extension"], extension_ground=s["ext_ground"],
            paused_days=s["paused"], rejection_ground=s["rejection_ground"],
            **{k: k in s["kinds"] for k in KINDS})
        for s in specs
    ])
    # Erasures completed: their completion events, written on their day.
    for row, spec in zip(rows, specs, strict=True):
        if spec["state"] == "completed" and spec["kinds"] & {"erasure", "objection"}:
            spec["erased"] = (rng.randint(1, 9), rng.randint(0, 4), rng.randint(0, 3))
            details = {"erasure": dict(zip(("faces_erased", "photos_deleted",
                                            "photos_redacted"), spec["erased"], strict=True))}
            with mock.patch.object(timezone, "now", return_value=at_noon(spec["closed"])):
                record_event(row, actor=SYSTEM, action="completed", from_state="in_progress",
                             to_state="completed", details=details)
    # Art. 19 notices to one of three customers, some confirmed.
    customers = [Customer.objects.create(name=f"Customer {n}", kind="bank", country="BE",
                                         account="paid", contact_email=f"c{n}@example.org")
                 for n in range(3)]
    notices = []
    for row, spec in zip(rows, specs, strict=True):
        if "erased" not in spec:
            continue
        for customer in rng.sample(customers, rng.randint(1, 3)):
            acknowledged = None
            if rng.random() < 0.6:
                acknowledged = min(spec["closed"] + dt.timedelta(days=rng.randint(0, 20)), today)
            notices.append((row, customer, spec["closed"], acknowledged))
    RecipientNotice.objects.bulk_create([
        RecipientNotice(request=row, customer=customer, faces=1, notified_at=at_noon(sent),
                        acknowledged_at=at_noon(ack) if ack else None,
                        acknowledged_as="erased" if ack else "")
        for row, customer, sent, ack in notices
    ])
    # The suppression list: some entries added in each month.
    suppressed = []
    for spec in specs:
        if "erased" in spec and rng.random() < 0.5:
            entry = Suppression.objects.create(model="dlib", embedding=[0.1] * 128,
                                               reason="erasure", request_reference="FR-TEST")
            Suppression.objects.filter(pk=entry.pk).update(created_at=at_noon(spec["closed"]))
            suppressed.append(spec["closed"])

    expected = {}
    for start in months:
        received = [s for s in specs if month_of(s["received"]) == start]
        counts = {"received": len(received),
                  **{k: sum(k in s["kinds"] for s in received) for k in KINDS},
                  "in_time": 0, "in_extension": 0, "late": 0, "withdrawn": 0,
                  "not_yet_due": 0}
        days = []
        for s in received:
            first_due = plus_months(s["received"], 1) + dt.timedelta(days=s["paused"])
            due = plus_months(s["received"], 1 + s["extension"]) + \
                dt.timedelta(days=s["paused"])
            if s["state"] in ("completed", "rejected"):
                days.append((s["closed"] - s["received"]).days)
                if s["closed"] <= first_due:
                    counts["in_time"] += 1
                elif s["closed"] <= due:
                    counts["in_extension"] += 1
                else:
                    counts["late"] += 1
            elif s["state"] == "withdrawn":
                counts["withdrawn"] += 1
            elif today > due:
                counts["late"] += 1
            else:
                counts["not_yet_due"] += 1
        assert sum(counts[k] for k in ("in_time", "in_extension", "late", "withdrawn",
                                       "not_yet_due")) == len(received)
        completed_here = [s for s in specs if "erased" in s and month_of(s["closed"]) == start]
        expected[start.strftime("%Y-%m")] = {
            "counts": counts,
            "answered": len(days),
            "median": round(percentile(days, 0.5), 1) if len(days) >= THRESHOLD else None,
            "p90": round(percentile(days, 0.9), 1) if len(days) >= THRESHOLD else None,
            "extensions": {g: sum(1 for s in received if s["extension"]
                                  and (s["ext_ground"] or "not_recorded") == g)
                           for g in EXTENSION_GROUNDS},
            "rejections": {g: sum(1 for s in received if s["state"] == "rejected"
                                  and (s["rejection_ground"] or "not_recorded") == g)
                           for g in REJECTION_GROUNDS},
            "erased": dict(zip(("faces_erased", "photos_deleted", "photos_redacted"),
                               (sum(s["erased"][i] for s in completed_here) for i in range(3)),
                               strict=True)),
            "notices": {"notices_sent": sum(month_of(n[2]) == start for n in notices),
                        "notices_acknowledged": sum(n[3] is not None and month_of(n[3]) == start
                                                    for n in notices)},
            "suppression": sum(day < plus_months(start, 1) for day in suppressed),
        }
    return expected, [m.strftime("%Y-%m") for m in months]


def test_the_figures_match_a_count_made_independently(register, client):
    expected, months = register
    data = client.get("/transparency/figures.json").json()
    assert data["threshold"] == THRESHOLD
    published = {m["month"]: m for m in data["months"]}
    assert len(data["months"]) == 12 and list(published)[-3:] == months
    for label in months:
        want, got = expected[label], published[label]
        assert got["received"] == {k: shown(want["counts"][k])
                                   for k in ("received", *KINDS)}, label
        assert got["answered"] == {
            **{k: shown(want["counts"][k])
               for k in ("in_time", "in_extension", "late", "withdrawn", "not_yet_due")},
            "answered": shown(want["answered"])}, label
        assert got["days_to_answer"] == {"median_days": want["median"],
                                         "p90_days": want["p90"]}, label
        assert got["extensions_by_ground"] == {g: shown(n)
                                               for g, n in want["extensions"].items()}, label
        assert got["rejections_by_ground"] == {g: shown(n)
                                               for g, n in want["rejections"].items()}, label
        assert got["erased"] == {k: shown(n) for k, n in want["erased"].items()}, label
        assert got["art19_notices"] == {k: shown(n) for k, n in want["notices"].items()}, label
        assert got["suppression_list"] == shown(want["suppression"]), label
    # Every month before had nothing: shown as fewer than 5, never as 0.
    for month in data["months"][:-3]:
        assert month["received"]["received"] == {"fewer_than": THRESHOLD}
    # The months' medians are there where enough requests were answered.
    assert any(expected[label]["median"] is not None for label in months)


def test_a_small_cell_reads_fewer_than_5_on_the_page_and_in_the_csv(register, client):
    expected, months = register
    middle = months[1]
    assert expected[middle]["counts"]["objection"] == 3
    page = client.get("/transparency/").content.decode()
    table = page[page.index('id="received-heading"'):page.index('id="answered-heading"')]
    header = re.findall(r'<th scope="col">([^<]*)</th>', table)
    assert header == ["Month", "Requests received", "Access", "Erasure", "Objection"]
    [row] = re.findall(rf'<tr><th scope="row">{middle}</th>(.*?)</tr>', table)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    counts = expected[middle]["counts"]
    assert cells == [str(counts["received"]) if counts["received"] >= THRESHOLD
                     else "fewer than 5",
                     *(str(counts[k]) if counts[k] >= THRESHOLD else "fewer than 5"
                       for k in ("access", "erasure")),
                     "fewer than 5"]
    # The chart gets no number for it: nothing drawn.
    chart = re.search(r'data-chart="bars" data-labels="([^"]*)" data-series="([^"]*)"', table)
    labels = json.loads(html.unescape(chart.group(1)))
    series = {s["name"]: s["values"] for s in json.loads(html.unescape(chart.group(2)))}
    assert series["Objection"][labels.index(middle)] is None
    assert series["Requests received"][labels.index(middle)] == counts["received"]

    response = client.get("/transparency/figures.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = {row["month"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert rows[middle]["objection"] == "fewer than 5"
    assert rows[middle]["received"] == str(counts["received"])
    assert rows[months[0]]["median_days"] == str(expected[months[0]]["median"])


def test_only_aggregates_leave_the_portal(register, client):
    references = list(RightsRequest.objects.values_list("reference", flat=True))
    for path in ("/transparency/", "/transparency/figures.csv", "/transparency/figures.json"):
        text = client.get(path).content.decode()
        assert not any(reference in text for reference in references), path
    for path in ("/transparency/figures.csv", "/transparency/figures.json"):
        assert "@" not in client.get(path).content.decode()


def test_the_page_speaks_every_language_and_loads_nothing_from_elsewhere(client):
    headings = {"en": "Transparency", "nl": "Transparantie", "fr": "Transparence",
                "de": "Transparenz"}
    for language, heading in headings.items():
        client.cookies["django_language"] = language
        response = client.get("/transparency/")
        assert response.status_code == 200
        page = response.content.decode()
        assert f'<html lang="{language}">' in page and f"<h1>{heading}</h1>" in page
    assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', page))
    assert all(href.startswith("/static/")
               for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', page))
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert 'style="' not in page and "<style" not in page
