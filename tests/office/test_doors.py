"""Every page of the DPO office is behind the DPO area's door, and reads in
the DPO's language."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from subjects.office import breaches, impact
from subjects.office import urls as office_urls
from tests.office.test_breaches import STORY
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_staff


@pytest.fixture
def world(db):
    breach = breaches.record_breach(actor="dpo:dora",
                                    aware_at=timezone.now() - dt.timedelta(hours=3), **STORY)
    impact.generate_assessment(actor="dpo:dora")
    return {"reference": breach.reference, "version": 1}


def paths(world) -> dict[str, tuple[str, str]]:
    ref = world["reference"]
    return {
        "breaches": ("GET", "/dpo/office/breaches/"),
        "breach_register_csv": ("GET", "/dpo/office/breaches/register.csv"),
        "breach_register_json": ("GET", "/dpo/office/breaches/register.json"),
        "breach": ("GET", f"/dpo/office/breaches/{ref}/"),
        "update_breach": ("POST", f"/dpo/office/breaches/{ref}/update/"),
        "notify_authority": ("POST", f"/dpo/office/breaches/{ref}/notify/"),
        "decide_communication": ("POST", f"/dpo/office/breaches/{ref}/decide/"),
        "notification_text": ("GET", f"/dpo/office/breaches/{ref}/notification.txt"),
        "notification_json": ("GET", f"/dpo/office/breaches/{ref}/notification.json"),
        "processing": ("GET", "/dpo/office/processing/"),
        "processing_json": ("GET", "/dpo/office/processing.json"),
        "processing_csv": ("GET", "/dpo/office/processing.csv"),
        "impact_list": ("GET", "/dpo/office/impact/"),
        "impact": ("GET", "/dpo/office/impact/1/"),
        "impact_json": ("GET", "/dpo/office/impact/1.json"),
        "inspection": ("GET", "/dpo/office/inspection/"),
    }


def test_every_office_page_is_behind_the_dpo_door(world):
    sweep = paths(world)
    assert set(sweep) == {p.name for p in office_urls.urlpatterns}, \
        "an office URL is missing from this sweep"
    staff = log_in_verified(Client(), make_staff())
    user, _enrolment = make_dpo()
    dora = log_in_verified(Client(), user)
    for name, (method, path) in sweep.items():
        anonymous = getattr(Client(), method.lower())(path)
        assert anonymous.status_code == 302 and "/dpo/login/" in anonymous["Location"], name
        assert getattr(staff, method.lower())(path).status_code == 403, name
        if method == "GET":
            assert dora.get(path).status_code == 200, name


PAGES = {
    "nl": {"/dpo/office/breaches/": "Register van inbreuken",
           "/dpo/office/processing/": "Register van verwerkingsactiviteiten (art. 30)",
           "/dpo/office/impact/1/": "Gegevensbeschermingseffectbeoordeling, versie 1",
           "/dpo/office/inspection/": "Export voor inspectie door de toezichthoudende "
                                      "autoriteit"},
    "fr": {"/dpo/office/breaches/": "Registre des violations",
           "/dpo/office/processing/": "Registre des activités de traitement (art. 30)",
           "/dpo/office/impact/1/": "Analyse d’impact relative à la protection des données, "
                                    "version 1",
           "/dpo/office/inspection/": "Export pour l’inspection par l’autorité de contrôle"},
    "de": {"/dpo/office/breaches/": "Verzeichnis der Verletzungen",
           "/dpo/office/processing/": "Verzeichnis von Verarbeitungstätigkeiten (Art. 30)",
           "/dpo/office/impact/1/": "Datenschutz-Folgenabschätzung, Version 1",
           "/dpo/office/inspection/": "Export für die Prüfung durch die Aufsichtsbehörde"},
}


@pytest.mark.parametrize("language", sorted(PAGES))
def test_the_office_reads_in_the_dpos_language(world, language):
    user, _enrolment = make_dpo()
    dora = log_in_verified(Client(), user)
    for path, heading in PAGES[language].items():
        page = dora.get(path, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert heading in page, (language, path)
    page = dora.get(f"/dpo/office/breaches/{world['reference']}/",
                    HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert {"nl": "Melding aan de toezichthoudende autoriteit (art. 33)",
            "fr": "Notification à l’autorité de contrôle (art. 33)",
            "de": "Meldung an die Aufsichtsbehörde (Art. 33)"}[language] in page
