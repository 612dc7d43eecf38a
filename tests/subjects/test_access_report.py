"""The access report reads as a document in the person's language: names,
not codes; dates, not timestamps; one row per customer search with the
photos it returned. And an Art. 19 notice names the searches it covers."""

import io
import re
import zipfile

import pytest

from subjects.core import tokens
from subjects.jobs import delivery, selfie_search
from subjects.models import Match, OutboundEmail
from subjects.person import filing, intake, selfie
from tests.conftest import FACES_DIR
from tests.subjects.scenario import carry_out_in_process, seed_world

CODES = ["law_enforcement", "retail", "bank", "other", "trial", "paid", "access", "erasure",
         "objection", "completed", "in_progress", "awaiting_review", "matches_ready"]
ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@pytest.mark.django_db
def test_the_dutch_access_report_has_no_code_and_no_timestamp_and_a_row_per_search():
    world = seed_world("-report")
    request = intake.start_request(email="rapport.lezer@example.org", language="nl")
    request = intake.verify_email(tokens.verification_token(request))
    request = selfie.submit_selfie(request, (FACES_DIR / "obama_2.jpg").read_bytes(), live=True)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    request.refresh_from_db()
    decisions = {m.pk: "mine" if m.tier == "match" else "not_mine"
                 for m in request.matches.all()}
    request = filing.file_request(request, kinds=["access", "erasure"], keep_template="no",
                                  decisions=decisions)
    request = carry_out_in_process(request)
    assert request.state == "completed"

    with request.package.file.open("rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    report = archive.read("report.html").decode()
    assert '<html lang="nl">' in report
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", report, re.S)
    assert [c for c in cells if c.strip() in CODES] == []
    assert ISO_TIMESTAMP.findall(report) == []
    assert "Rechtshandhaving" in report and "Proefaccount" in report
    # One row per search: the police searched once (one face of theirs among
    # its results), the bank once.
    table = report[report.index("Wie uw gegevens") if "Wie uw gegevens" in report else 0:]
    table = table[table.index("<tbody>"):table.index("</tbody>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 2, rows
    assert all('href="#photo-' in row for row in rows)
    photo_numbers = {int(n) for n in re.findall(r'href="#photo-(\d+)"', table)}
    assert photo_numbers <= set(range(1, len(re.findall(r'<section id="photo-', report)) + 1))
    confirmed = Match.objects.filter(request=request, decision="mine").count()
    assert confirmed >= 2

    # The police's Art. 19 notice names its search, the rank and the face.
    [notice] = OutboundEmail.objects.filter(request=request, kind="art19_notice",
                                            recipient="privacy-report@polizei.example")
    text = delivery.build_message(notice).body
    assert re.search(r"search \d+ of \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC: results ranked 1 "
                     rf"\(faces {world['obama_solo'][0].pk}\)", text), text
