"""The record of processing (Art. 30): generated from the settings and the
database, exported as JSON that follows the schema in docs/ and as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import jsonschema
import pytest
from django.conf import settings as django_settings
from django.test import Client

from search.models import Customer
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request, make_staff

SCHEMA = json.loads((django_settings.BASE_DIR / "docs" / "record-of-processing.schema.json")
                    .read_text(encoding="utf-8"))


@pytest.fixture
def dora(db):
    user, _enrolment = make_dpo()
    return log_in_verified(Client(), user)


def data_category(record: dict, code: str) -> dict:
    return next(c for c in record["categories_of_data"] if c["code"] == code)


def test_the_export_follows_the_schema_and_counts_what_the_database_holds(dora):
    Customer.objects.create(name="Metro Police", kind="law_enforcement", country="US",
                            account="paid")
    Customer.objects.create(name="Shop", kind="retail", country="BE", account="trial")
    Customer.objects.create(name="Bank", kind="bank", country="GB", account="paid")
    make_request("completed", email="one@example.org")
    make_request("awaiting_review", email="one@example.org")
    make_request("awaiting_review", email="two@example.org")
    response = dora.get("/dpo/office/processing.json")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    record = response.json()
    jsonschema.Draft202012Validator(SCHEMA).validate(record)
    assert record["controller"]["name"] == django_settings.CONTROLLER_NAME
    assert record["dpo"]["email"] == django_settings.DPO_EMAIL
    assert data_category(record, "request_records")["held"] == 3
    requesters = next(c for c in record["categories_of_people"] if c["code"] == "requesters")
    assert (requesters["count"], requesters["counted_as"]) == (2, "distinct_addresses")
    recipients = {r["kind"]: r for r in record["recipients"]}
    assert recipients["law_enforcement"]["paid_accounts"] == 1
    assert recipients["retail"]["trial_accounts"] == 1
    # Belgium is in the EEA; the UK has an adequacy decision; the US police does not.
    transfers = {t["country"]: t for t in record["transfers"]}
    assert set(transfers) == {"GB", "US"}
    assert "Art. 45" in transfers["GB"]["safeguard"]
    assert "Art. 46(2)(c)" in transfers["US"]["safeguard"]
    measures = {m["code"]: m for m in record["security_measures"]}
    # The test database carries the audit table's trigger (subjects.0005).
    assert measures["append_only_audit"]["in_force"] is True
    assert measures["second_factor"]["in_force"] is django_settings.REQUIRE_DPO_2FA


def test_changing_a_retention_setting_changes_the_record(dora, settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 90
    before = dora.get("/dpo/office/processing.json").json()
    settings.PERSONAL_DATA_RETENTION_DAYS = 30
    settings.REQUEST_EXPIRY = {**settings.REQUEST_EXPIRY,
                               "matches_ready": dt.timedelta(days=45)}
    after = dora.get("/dpo/office/processing.json").json()
    jsonschema.Draft202012Validator(SCHEMA).validate(after)
    assert before["retention_settings"]["PERSONAL_DATA_RETENTION_DAYS"] == 90
    assert after["retention_settings"]["PERSONAL_DATA_RETENTION_DAYS"] == 30
    assert after["retention_settings"]["EXPIRE_MATCHES_READY_DAYS"] == 45
    addresses = data_category(after, "email_addresses")["retention"]
    assert addresses["rule"] == ("Deleted 30 days after the request closes; an unfinished "
                                 "request expires after at most 45 days.")
    assert "Deleted 90 days after the request closes" in \
        data_category(before, "email_addresses")["retention"]["rule"]
    page = dora.get("/dpo/office/processing/").content.decode()
    assert "Deleted 30 days after the request closes" in page
    assert "PERSONAL_DATA_RETENTION_DAYS=30" in page
    rows = list(csv.reader(io.StringIO(dora.get("/dpo/office/processing.csv").content.decode())))
    assert rows[0] == ["section", "item", "field", "value"]
    assert ["retention_settings", "", "PERSONAL_DATA_RETENTION_DAYS", "30"] in rows
    assert ["categories_of_data", "email_addresses", "retention.settings."
            "PERSONAL_DATA_RETENTION_DAYS", "30"] in rows


def test_a_security_setting_shows_in_the_record(dora, settings):
    settings.EMAIL_USE_TLS = False
    off = {m["code"]: m for m in dora.get("/dpo/office/processing.json").json()
           ["security_measures"]}
    settings.EMAIL_USE_TLS = True
    on = {m["code"]: m for m in dora.get("/dpo/office/processing.json").json()
          ["security_measures"]}
    assert (off["tls_email"]["in_force"], on["tls_email"]["in_force"]) == (False, True)


def test_the_record_reads_in_the_dpos_language(dora, settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 60
    page = dora.get("/dpo/office/processing/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Verzeichnis von Verarbeitungstätigkeiten (Art. 30)" in page
    assert "Gelöscht 60 Tage nach Abschluss des Antrags" in page


def test_the_record_is_the_dpos_only(db):
    for path in ("/dpo/office/processing/", "/dpo/office/processing.json",
                 "/dpo/office/processing.csv"):
        assert Client().get(path).status_code == 302
        staff = log_in_verified(Client(), make_staff(f"s{len(path)}@example.org"))
        assert staff.get(path).status_code == 403
