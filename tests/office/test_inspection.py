"""The inspection export: a signed archive for a period whose signature,
audit chain and register a test checks, as the authority would."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from portal import signatures
from subjects.jobs.audit_heads import publish_audit_head
from subjects.models import AuditEvent, RightsRequest
from subjects.office import breaches, inspection
from tests.office.test_breaches import STORY
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request, make_staff


@pytest.fixture
def dora(db):
    user, _enrolment = make_dpo()
    return log_in_verified(Client(), user)


@pytest.fixture
def period_with_history(db):
    """Requests inside and outside the period, a breach, and two heads
    published in the period with events between them."""
    now = timezone.now()
    make_request("completed", received_days_ago=100, closed_at=now - dt.timedelta(days=90))
    publish_audit_head(now=now - dt.timedelta(days=20))
    inside = [
        make_request("completed", received_days_ago=15, closed_at=now - dt.timedelta(days=5)),
        make_request("rejected", received_days_ago=12, rejection_ground="manifestly_unfounded",
                     closed_at=now - dt.timedelta(days=2)),
        make_request("awaiting_review", received_days_ago=3, kinds=("erasure",)),
    ]
    breaches.record_breach(actor="dpo:dora", aware_at=now - dt.timedelta(days=4), **STORY)
    publish_audit_head(now=now - dt.timedelta(days=1))
    today = timezone.localdate()
    return today - dt.timedelta(days=30), today, inside


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_export_is_signed_its_chain_verified_and_its_register_is_the_periods(
        dora, period_with_history):
    since, until, inside = period_with_history
    response = dora.post("/dpo/office/inspection/", {"since": since.isoformat(),
                                                     "until": until.isoformat()})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f'inspection-{since}-{until}.zip' in response["Content-Disposition"]
    files = unzip(response.content)

    # The signature holds against the published key, and covers every file.
    manifest = signatures.open_document(files["manifest.signed.json"]).payload
    assert manifest["type"] == "inspection-export"
    assert manifest["period"] == {"from": since.isoformat(), "to": until.isoformat()}
    assert set(manifest["files"]) == set(files) - {"manifest.json", "manifest.signed.json"}
    assert inspection.verify_export(response.content) == manifest

    # The register holds exactly the requests received in the period.
    register = json.loads(files["requests.json"])
    expected = set(RightsRequest.objects.filter(
        received_at__date__gte=since, received_at__date__lte=until)
        .values_list("reference", flat=True))
    assert {row["reference"] for row in register} == expected == {r.reference for r in inside}
    rows = {row["reference"]: row for row in register}
    rejected = rows[inside[1].reference]
    assert (rejected["outcome"], rejected["rejection_ground"]) == ("rejected",
                                                                   "manifestly_unfounded")
    assert rejected["answered_in_time"] is True and rejected["days_to_answer"] == 10
    assert rows[inside[2].reference]["outcome"] == "open"
    assert b"@example.org" not in files["requests.csv"] + files["requests.json"]

    # The heads as published, and the trail between them verified.
    heads = [name for name in files if name.startswith("audit-heads/")]
    assert len(heads) == 2
    for name in heads:
        assert signatures.open_document(files[name]).payload["type"] == "audit-head"
    chain = json.loads(files["audit-chain.json"])
    assert [s["holds"] for s in chain if s["kind"] == "head"] == [True, True]
    [between] = [s for s in chain if s["kind"] == "between"]
    assert between["verified"] is True
    assert between["events"] == between["to_sequence"] - between["from_sequence"] > 0

    [breach] = json.loads(files["breaches.json"])
    assert breach["summary"] == STORY["summary"]
    assert json.loads(files["record-of-processing.json"])["schema"] == "record-of-processing/1"
    assert json.loads(files["transparency.json"])["months"]
    event = AuditEvent.objects.get(action="inspection_exported")
    assert event.details["requests"] == 3 and event.actor == "dpo:dora.dpo@example.org"


def test_a_changed_file_fails_the_check(db, period_with_history):
    since, until, _inside = period_with_history
    export = inspection.build_export(since=since, until=until, actor="dpo:dora")
    files = unzip(export.data)
    files["requests.csv"] = files["requests.csv"].replace(b"rejected", b"completed")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    with pytest.raises(inspection.ExportInvalid, match="requests.csv was changed"):
        inspection.verify_export(buffer.getvalue())


def test_a_rewritten_trail_shows_in_the_chain_check(db, period_with_history):
    since, until, _inside = period_with_history
    # The trail as if rewritten: the later head no longer matches the events.
    head = inspection.heads_in(since, until)[-1]
    head.hash = "f" * 64
    chain = inspection.chain_between([inspection.heads_in(since, until)[0], head])
    assert chain[1]["holds"] is False
    assert chain[2]["verified"] is False


def test_the_command_writes_the_same_archive(db, period_with_history, tmp_path):
    since, until, inside = period_with_history
    out = tmp_path / "export.zip"
    stdout = io.StringIO()
    call_command("inspection_export", "--from", since.isoformat(), "--to", until.isoformat(),
                 "--out", str(out), stdout=stdout)
    assert "3 requests, 1 breaches, 2 audit heads, signed" in stdout.getvalue()
    manifest = inspection.verify_export(out.read_bytes())
    assert manifest["requests"] == len(inside)


def test_a_bad_period_gets_a_sentence(dora):
    response = dora.post("/dpo/office/inspection/", {"since": "2026-05-01",
                                                     "until": "2026-04-01"})
    assert response.status_code == 400
    assert "The period ends before it begins." in response.content.decode()
    response = dora.post("/dpo/office/inspection/", {"since": "1900-01-01",
                                                     "until": "2026-04-01"})
    assert response.status_code == 400
    assert "The period can be at most ten years long." in response.content.decode()
    response = dora.post("/dpo/office/inspection/", {"since": "yesterday", "until": ""})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="inspection_exported").exists()


def test_the_export_is_the_dpos_only(db):
    assert Client().get("/dpo/office/inspection/").status_code == 302
    staff = log_in_verified(Client(), make_staff())
    assert staff.post("/dpo/office/inspection/", {"since": "2026-01-01",
                                                  "until": "2026-02-01"}).status_code == 403
