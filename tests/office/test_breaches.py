"""The breach register: its 72-hour clock and alerts, the notification to
the supervisory authority (Art. 33), telling the people affected (Art. 34),
the audit trail of every step and the register's export."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html as markup
import io
import json

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from subjects.core.audit import verify_chain
from subjects.jobs.delivery import build_message
from subjects.models import AuditEvent, OutboundEmail
from subjects.office import breaches
from subjects.office.models import Breach
from tests.mail import html_part, text_part
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request, make_staff

#: The seed's own story: the company's customer list leaked.
STORY = {
    "summary": "The list of customer accounts and their search logs was copied from a "
               "misconfigured backup bucket.",
    "occurred_at": None,
    "data_categories": ["customer_accounts", "search_logs", "face_templates"],
    "people_categories": ["photographed", "customer_staff"],
    "approx_people": 12000,
    "approx_records": 480000,
    "consequences": "Customers' staff may be targeted by phishing; people searched for may "
                    "learn who searched for them.",
    "measures_taken": "The bucket was closed and its access keys revoked.",
    "measures_proposed": "Backups encrypted with keys held apart from the storage.",
    "decided_by": "Dora, Data Protection Officer",
}


def record(aware_at: dt.datetime, **changes) -> Breach:
    return breaches.record_breach(actor="dpo:dora", aware_at=aware_at, **{**STORY, **changes})


def form_data(aware_at: dt.datetime, **changes) -> dict:
    data = {**STORY, "occurred_at": "", "aware_at": timezone.localtime(aware_at)
            .strftime("%Y-%m-%dT%H:%M"), **changes}
    return data


@pytest.fixture
def dora(db):
    user, _enrolment = make_dpo()
    return log_in_verified(Client(), user)


def actions_of(reference: str) -> list[str]:
    return list(AuditEvent.objects.filter(reference=reference).order_by("pk")
                .values_list("action", flat=True))


def test_the_clock_shows_on_the_queue_and_alerts_at_24_48_and_68_hours(dora):
    aware = timezone.now() - dt.timedelta(hours=1)
    breach = record(aware)
    assert breach.reference == f"BR-{timezone.localtime(aware).year}-0001"
    page = dora.get("/dpo/").content.decode()
    assert "Breaches to notify to the supervisory authority" in page
    assert f"{breach.reference}</a>:" in page and "1 h since awareness, 70 h left of 72" \
        in " ".join(page.split())

    def at(hours: float) -> dt.datetime:
        return aware + dt.timedelta(hours=hours)

    # Beat looks every few minutes: nothing before 24 hours, then each mark once.
    assert breaches.send_clock_alerts(now=at(23.9)) == []
    assert breaches.send_clock_alerts(now=at(24)) == [(breach.reference, 24)]
    assert breaches.send_clock_alerts(now=at(30)) == []
    assert breaches.send_clock_alerts(now=at(48.1)) == [(breach.reference, 48)]
    assert breaches.send_clock_alerts(now=at(67.9)) == []
    assert breaches.send_clock_alerts(now=at(68)) == [(breach.reference, 68)]
    assert breaches.send_clock_alerts(now=at(71)) == []

    mails = OutboundEmail.objects.filter(kind="dpo_breach_clock").order_by("pk")
    assert [(m.context["hour"], m.context["hours_left"], m.recipient) for m in mails] == [
        (24, 48, "dpo@localhost"), (48, 24, "dpo@localhost"), (68, 4, "dpo@localhost")]
    events = AuditEvent.objects.filter(reference=breach.reference, action="breach_clock_alert")
    assert [e.details["hour"] for e in events] == [24, 48, 68]
    last = build_message(mails.last())
    assert last.subject == f"Breach {breach.reference}: 68 hours since you became aware of it"
    assert "(4 hours left); after that, Art. 33(1) requires the reasons for the delay." \
        in last.body
    assert f"/dpo/office/breaches/{breach.reference}/" in last.body


def test_a_breach_recorded_late_alerts_its_last_mark_only(db):
    breach = record(timezone.now() - dt.timedelta(hours=50))
    assert breaches.send_clock_alerts() == [(breach.reference, 48)]
    assert breaches.send_clock_alerts() == []
    assert list(breach.alerts.values_list("hour", flat=True)) == [24, 48]


def test_the_clock_stops_when_the_authority_is_notified(db):
    breach = record(timezone.now() - dt.timedelta(hours=30))
    breaches.record_authority_notification(breach, actor="dpo:dora", sent_at=timezone.now())
    assert breaches.send_clock_alerts() == []
    assert breaches.open_clocks() == []


def test_the_beat_schedule_runs_the_clock(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["breach-clock-alerts"]
    assert entry["task"] == "office.breach_clock_alerts"
    # Often enough that an alert comes within minutes of its hour.
    assert entry["schedule"] <= 600


def test_the_authority_notification_holds_every_art_33_3_item(dora):
    breach = record(timezone.now() - dt.timedelta(hours=5),
                    occurred_at=timezone.now() - dt.timedelta(days=2))
    draft = dora.get(f"/dpo/office/breaches/{breach.reference}/notification.json")
    assert draft.status_code == 200
    n = json.loads(draft.content)
    # (a) nature, categories and approximate numbers of people and records
    assert n["nature"]["description"] == STORY["summary"]
    assert [c["code"] for c in n["nature"]["data_categories"]] == STORY["data_categories"]
    assert [c["code"] for c in n["nature"]["people_categories"]] == STORY["people_categories"]
    assert (n["nature"]["approx_people"], n["nature"]["approx_records"]) == (12000, 480000)
    # (b) the DPO's contact, (c) consequences, (d) measures
    assert n["contact_point"]["email"] == "dpo@localhost"
    assert n["likely_consequences"] == STORY["consequences"]
    assert n["measures"] == {"taken": STORY["measures_taken"],
                             "proposed": STORY["measures_proposed"]}
    assert n["timeliness"]["within_72_hours"] is True and n["complete"] is True
    text = dora.get(f"/dpo/office/breaches/{breach.reference}/notification.txt").content.decode()
    for item in ("(a) The nature of the breach", STORY["summary"], "Approximate number of "
                 "people concerned: 12000", "Approximate number of records concerned: 480000",
                 "Customer accounts and their contacts", "Customers' staff",
                 "(b) Contact point", "dpo@localhost", "(c) Likely consequences",
                 STORY["consequences"], "(d) Measures taken or proposed",
                 STORY["measures_taken"], STORY["measures_proposed"], breach.reference):
        assert item in text, item

    response = dora.post(f"/dpo/office/breaches/{breach.reference}/notify/",
                         {"sent_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
                          "authority_case": "DPA-2026-77"})
    assert response.status_code == 302
    breach.refresh_from_db()
    assert breach.authority_case == "DPA-2026-77"
    assert breach.authority_notified_by == "dpo:dora.dpo@example.org"
    event = AuditEvent.objects.get(reference=breach.reference, action="breach_authority_notified")
    assert event.details["within_72_hours"] is True
    assert event.details["notification_sha256"] == breaches.notification_digest(
        breaches.authority_notification(breach))


def test_after_72_hours_the_notification_demands_the_reasons_for_the_delay(dora):
    breach = record(timezone.now() - dt.timedelta(hours=80))
    n = dora.get(f"/dpo/office/breaches/{breach.reference}/notification.json").json()
    assert n["timeliness"]["within_72_hours"] is False
    assert (n["complete"], n["missing"]) == (False, ["delay_reason"])
    text = dora.get(f"/dpo/office/breaches/{breach.reference}/notification.txt").content.decode()
    assert "Reasons for the delay: MISSING: required after 72 hours." in text
    page = dora.get(f"/dpo/office/breaches/{breach.reference}/").content.decode()
    assert "needs the reasons for the delay" in page

    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    refused = dora.post(f"/dpo/office/breaches/{breach.reference}/notify/", {"sent_at": now})
    assert refused.status_code == 400
    assert "Art. 33(1) requires the reasons for the delay" in refused.content.decode()
    breach.refresh_from_db()
    assert breach.authority_notified_at is None
    assert "breach_authority_notified" not in actions_of(breach.reference)

    reason = "The breach was found in a backup restored for another purpose; its scope took "\
             "four days to establish."
    done = dora.post(f"/dpo/office/breaches/{breach.reference}/notify/",
                     {"sent_at": now, "delay_reason": reason})
    assert done.status_code == 302
    n = dora.get(f"/dpo/office/breaches/{breach.reference}/notification.json").json()
    assert n["complete"] is True and n["timeliness"]["delay_reason"] == reason
    event = AuditEvent.objects.get(reference=breach.reference, action="breach_authority_notified")
    assert event.details["within_72_hours"] is False
    assert event.details["delay_reason_sha256"] == hashlib.sha256(reason.encode()).hexdigest()
    assert event.reason == ""
    again = dora.post(f"/dpo/office/breaches/{breach.reference}/notify/",
                      {"sent_at": now, "delay_reason": reason})
    assert again.status_code == 400
    assert "was recorded already" in again.content.decode()


def test_bad_input_gets_a_sentence_not_a_500(dora):
    future = timezone.now() + dt.timedelta(hours=3)
    response = dora.post("/dpo/office/breaches/", form_data(future))
    assert response.status_code == 400
    assert "cannot be in the future" in response.content.decode()
    response = dora.post("/dpo/office/breaches/", form_data(timezone.now(), approx_people="many"))
    assert response.status_code == 400
    assert "Please correct the form below." in response.content.decode()
    assert not Breach.objects.exists()
    breach = record(timezone.now())
    response = dora.post(f"/dpo/office/breaches/{breach.reference}/decide/",
                         {"communication": "individual", "reasons": "High risk.",
                          "affected_references": "FR-NOPE-NOPE-NOPE"})
    assert response.status_code == 400
    assert "No request has the reference FR-NOPE-NOPE-NOPE." in response.content.decode()
    response = dora.post(f"/dpo/office/breaches/{breach.reference}/decide/",
                         {"communication": "individual", "reasons": "High risk."})
    assert response.status_code == 400
    assert "Say whose requests the breach affects" in response.content.decode()
    response = dora.post(f"/dpo/office/breaches/{breach.reference}/decide/",
                         {"communication": "public", "reasons": "  "})
    assert response.status_code == 400 and "This field is required." in \
        response.content.decode()
    later = timezone.localtime() + dt.timedelta(hours=2)
    response = dora.post(f"/dpo/office/breaches/{breach.reference}/notify/",
                         {"sent_at": later.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 400
    assert "cannot have been sent in the future" in response.content.decode()
    breach.refresh_from_db()
    assert (breach.communication, breach.authority_notified_at) == ("undecided", None)
    assert actions_of(breach.reference) == ["breach_recorded"]
    assert dora.get("/dpo/office/breaches/BR-1999-0001/").status_code == 404


def test_only_the_dpo_reaches_the_register(db):
    breach = record(timezone.now())
    paths = ["/dpo/office/breaches/", f"/dpo/office/breaches/{breach.reference}/",
             f"/dpo/office/breaches/{breach.reference}/notification.json",
             "/dpo/office/breaches/register.csv"]
    for path in paths:
        response = Client().get(path)
        assert response.status_code == 302 and "/dpo/login/" in response["Location"]
        assert log_in_verified(Client(), make_staff(f"sam{len(path)}@example.org")) \
            .get(path).status_code == 403


def test_recording_through_the_page_and_exporting_the_register(dora):
    aware = timezone.now() - dt.timedelta(hours=2)
    response = dora.post("/dpo/office/breaches/", form_data(aware))
    assert response.status_code == 302
    breach = Breach.objects.get()
    assert response["Location"] == f"/dpo/office/breaches/{breach.reference}/"
    assert breach.recorded_by == "dpo:dora.dpo@example.org"
    page = dora.get(response["Location"]).content.decode()
    assert "Breach recorded" in page and STORY["summary"] in page

    rows = list(csv.reader(io.StringIO(
        dora.get("/dpo/office/breaches/register.csv").content.decode())))
    assert rows[0][:3] == ["reference", "occurred_at", "aware_at"]
    entry = dict(zip(rows[0], rows[1], strict=True))
    assert entry["reference"] == breach.reference
    assert entry["data_categories"] == "customer_accounts+search_logs+face_templates"
    assert entry["approx_people"] == "12000" and entry["authority_notified_at"] == ""
    [as_json] = dora.get("/dpo/office/breaches/register.json").json()
    assert as_json["summary"] == STORY["summary"] and as_json["communication"] == "undecided"


def test_every_step_is_an_event_of_the_audit_trail(db):
    request = make_request("completed", language="fr")
    breach = record(timezone.now() - dt.timedelta(hours=30))
    breaches.send_clock_alerts()
    breaches.record_authority_notification(breach, actor="dpo:dora", sent_at=timezone.now())
    breaches.decide_communication(breach, actor="dpo:dora", communication="individual",
                                  reasons="Templates of people's faces leaked: a high risk.",
                                  affected_references=[request.reference])
    assert actions_of(breach.reference) == [
        "breach_recorded", "breach_clock_alert", "breach_authority_notified",
        "breach_communication_decided"]
    recorded = AuditEvent.objects.get(reference=breach.reference, action="breach_recorded")
    # Free text (which may name people) stays in the register; the append-only
    # trail, which no retention reaches outside requests, keeps its digest.
    events = AuditEvent.objects.filter(reference=breach.reference)
    assert not [e for e in events if e.reason or STORY["summary"] in json.dumps(e.details)]
    assert recorded.details["summary_sha256"] == hashlib.sha256(
        STORY["summary"].encode()).hexdigest()
    assert recorded.actor == "dpo:dora"
    assert verify_chain().intact


def test_a_public_notice_shows_on_the_transparency_page(dora):
    breach = record(timezone.now() - dt.timedelta(hours=10))
    assert "Personal-data breaches" not in Client().get("/transparency/").content.decode()
    response = dora.post(f"/dpo/office/breaches/{breach.reference}/decide/", {
        "communication": "public",
        "reasons": "12,000 people without a known address: telling each is impossible."})
    assert response.status_code == 302
    page = Client().get("/transparency/").content.decode()
    assert "Personal-data breaches" in page and f"Breach {breach.reference}" in page
    assert STORY["summary"] in page and "Customer accounts and their contacts" in page
    assert "The bucket was closed and its access keys revoked." in page
    nl = Client(HTTP_ACCEPT_LANGUAGE="nl").get("/transparency/").content.decode()
    assert "Inbreuken in verband met persoonsgegevens" in nl
    assert not OutboundEmail.objects.filter(kind="breach_notice").exists()
    assert AuditEvent.objects.get(reference=breach.reference,
                                  action="breach_communication_decided").details[
        "public_notice"] is True


@pytest.mark.worker
def test_telling_people_emails_each_affected_requester_in_their_language(
    transactional_db, celery_worker, inbox
):
    people = {language: make_request("completed", language=language,
                                      email=f"breach.{language}@example.org")
              for language in ("en", "nl", "fr", "de")}
    # The same person twice is told once; a person outside the breach not at all.
    again = make_request("awaiting_review", language="de", email="breach.de@example.org")
    outside = make_request("completed", language="en", email="breach.outside@example.org")
    breach = record(timezone.now() - dt.timedelta(hours=6))
    breaches.decide_communication(
        breach, actor="dpo:dora", communication="individual",
        reasons="Face templates leaked with the customers' search logs: a high risk.",
        affected_references=[r.reference for r in people.values()] + [again.reference])
    assert Breach.objects.get(pk=breach.pk).people_told == 4
    expected = {
        "en": ("A personal-data breach that concerns you", "The likely consequences:",
               "Face templates (embeddings) of the face index"),
        "nl": ("Een inbreuk in verband met persoonsgegevens die u betreft",
               "De waarschijnlijke gevolgen:", "Gezichtstemplates (embeddings) van de "
               "gezichtsindex"),
        "fr": ("Une violation de données personnelles qui vous concerne",
               "Les conséquences probables\u00a0:", "Gabarits de visage (embeddings) de l’index "
               "des visages"),
        "de": ("Eine Verletzung des Schutzes personenbezogener Daten, die Sie betrifft",
               "Die wahrscheinlichen Folgen:", "Gesichtsvorlagen (Embeddings) des "
               "Gesichtsindex"),
    }
    for language, (subject, consequences, category) in expected.items():
        [mail] = inbox.wait_for(f"breach.{language}@example.org", subject_contains=subject)
        text, html = text_part(mail), markup.unescape(html_part(mail))
        assert f'<html lang="{language}">' in html
        # Art. 34(2): the nature, the DPO's contact, the consequences, the measures.
        for part in (text, html):
            assert STORY["summary"] in part and category in part
            assert consequences in part and STORY["consequences"].split(";")[0] in part
            assert STORY["measures_taken"] in part and "dpo@localhost" in part
    assert not [m for m in inbox.to("breach.outside@example.org")
                if breach.reference in m["Subject"]]
    assert outside.reference not in breach.affected_references
    sent = OutboundEmail.objects.filter(kind="breach_notice")
    assert sent.count() == 4 and set(sent.values_list("status", flat=True)) == {"sent"}


@pytest.mark.worker
def test_the_beat_task_alerts_the_dpo_through_a_worker(transactional_db, celery_worker, inbox):
    from portal.celery import app  # the app beat sends to, with its routes

    breach = record(timezone.now() - dt.timedelta(hours=25))
    result = app.send_task(django_settings.CELERY_BEAT_SCHEDULE["breach-clock-alerts"]["task"])
    assert result.get(timeout=60) == 1
    [mail] = inbox.wait_for("dpo@localhost",
                            subject_contains=f"Breach {breach.reference}: 24 hours")
    assert "(47 hours left)" in text_part(mail)
    assert app.send_task("office.breach_clock_alerts").get(timeout=60) == 0


def test_the_record_is_completed_in_phases_and_each_change_audited(dora):
    aware = timezone.now() - dt.timedelta(hours=2)
    breach = record(aware)
    data = {f"record-{k}": v for k, v in form_data(aware, approx_people="15000",
                                                     consequences="Phishing of staff.").items()}
    data["record-data_categories"] = STORY["data_categories"]
    data["record-people_categories"] = STORY["people_categories"]
    response = dora.post(f"/dpo/office/breaches/{breach.reference}/update/", data)
    assert response.status_code == 302
    breach.refresh_from_db()
    assert (breach.approx_people, breach.consequences) == (15000, "Phishing of staff.")
    event = AuditEvent.objects.get(reference=breach.reference, action="breach_updated")
    assert event.details["changed"] == ["approx_people", "consequences"]
    # Numbers are named with their values; free text only as changed.
    assert event.details["values"] == {"approx_people": {"from": 12000, "to": 15000}}
    draft = dora.get(f"/dpo/office/breaches/{breach.reference}/notification.json").json()
    assert draft["nature"]["approx_people"] == 15000
    assert draft["likely_consequences"] == "Phishing of staff."
    # Saving the same record again changes nothing and writes nothing.
    assert dora.post(f"/dpo/office/breaches/{breach.reference}/update/", data).status_code == 302
    assert actions_of(breach.reference) == ["breach_recorded", "breach_updated"]
    data["record-aware_at"] = (timezone.localtime() + dt.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M")
    refused = dora.post(f"/dpo/office/breaches/{breach.reference}/update/", data)
    assert refused.status_code == 400 and "cannot be in the future" in refused.content.decode()
