"""The record of processing activities (Art. 30(1)), generated from the
settings and the database every time it is read, so it can never drift
from the system: the controller, its representative and DPO; purposes and
legal bases (``subjects.core.disclosures``, as the people are told);
categories of people and of data with what the database holds of each;
recipients by category (the customers, counted); transfers outside the EEA
and their safeguards; each category's retention as the settings define it;
the security measures in force (Art. 32), read from the configuration and
the database. Its JSON form follows ``docs/record-of-processing.schema.json``.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from search.models import Customer, CustomerSearch, Face, Photo, Suppression
from subjects.core import disclosures
from subjects.core.audit import chain_head
from subjects.models import (
    AccessPackage,
    AuditEvent,
    FrameFingerprint,
    LivenessChallenge,
    RightsRequest,
)
from subjects.office.categories import DATA_CATEGORIES, PEOPLE_CATEGORIES

SCHEMA = "record-of-processing/1"

#: How each retention limit reads, whatever its setting's value.
NOT_LIMITED = _("No time limit in the configuration: kept until erased on request.")


def _seconds(delta: dt.timedelta) -> int:
    return int(delta.total_seconds())


def retention_settings() -> dict[str, int]:
    """Every retention limit of the configuration, by the name of its
    environment variable, in the unit that name says."""
    expiry = settings.REQUEST_EXPIRY
    return {
        "PERSONAL_DATA_RETENTION_DAYS": settings.PERSONAL_DATA_RETENTION_DAYS,
        "ACCESS_PACKAGE_DAYS": settings.ACCESS_PACKAGE_DAYS,
        "EXPIRE_UNVERIFIED_DAYS": expiry["unverified"].days,
        "EXPIRE_VERIFIED_DAYS": expiry["verified"].days,
        "EXPIRE_SEARCHING_HOURS": _seconds(expiry["searching"]) // 3600,
        "EXPIRE_MATCHES_READY_DAYS": expiry["matches_ready"].days,
        "EXPIRE_INFO_REQUESTED_DAYS": expiry["info_requested"].days,
        "LIVENESS_CHALLENGE_SECONDS": settings.LIVENESS_CHALLENGE_SECONDS,
        "LIVENESS_CHECK_WAIT_SECONDS": settings.LIVENESS_CHECK_WAIT_SECONDS,
        "ART19_LINK_DAYS": settings.ART19_LINK_DAYS,
    }


def _retention(data: str, limits: dict[str, int]) -> dict:
    """The retention of one category of data: a sentence, and the settings
    it comes from with their values."""
    days = limits["PERSONAL_DATA_RETENTION_DAYS"]
    unfinished = max(limits[name] for name in (
        "EXPIRE_UNVERIFIED_DAYS", "EXPIRE_VERIFIED_DAYS",
        "EXPIRE_MATCHES_READY_DAYS", "EXPIRE_INFO_REQUESTED_DAYS"))
    rules = {
        "scraped_photos": (NOT_LIMITED, []),
        "face_templates": (NOT_LIMITED, []),
        "search_logs": (_("No time limit in the configuration; the link to an erased face is "
                          "removed at its erasure."), []),
        "customer_accounts": (NOT_LIMITED, []),
        "selfies": (_("The image is deleted once its template is computed; the template when "
                      "the request closes, or when an unfinished request expires (after at "
                      "most %(unfinished)d days without an answer from the person).")
                    % {"unfinished": unfinished},
                    ["EXPIRE_UNVERIFIED_DAYS", "EXPIRE_VERIFIED_DAYS",
                     "EXPIRE_MATCHES_READY_DAYS", "EXPIRE_INFO_REQUESTED_DAYS"]),
        "camera_measures": (_("A challenge not used within %(challenge)d seconds, or whose "
                              "burst waited %(wait)d seconds for its check, is deleted with "
                              "its frames; replay fingerprints are deleted %(days)d days after "
                              "they were taken.")
                            % {"challenge": limits["LIVENESS_CHALLENGE_SECONDS"],
                               "wait": limits["LIVENESS_CHECK_WAIT_SECONDS"], "days": days},
                            ["LIVENESS_CHALLENGE_SECONDS", "LIVENESS_CHECK_WAIT_SECONDS",
                             "PERSONAL_DATA_RETENTION_DAYS"]),
        "email_addresses": (_("Deleted %(days)d days after the request closes; an unfinished "
                              "request expires after at most %(unfinished)d days.")
                            % {"days": days, "unfinished": unfinished},
                            ["PERSONAL_DATA_RETENTION_DAYS", "EXPIRE_UNVERIFIED_DAYS",
                             "EXPIRE_MATCHES_READY_DAYS"]),
        "request_records": (_("Answers, e-mails and the free-text reasons of the audit trail are "
                              "deleted %(days)d days after the request closes; the reference, "
                              "dates, states and the hash-chained audit trail stay, as "
                              "evidence of how the request was answered.") % {"days": days},
                            ["PERSONAL_DATA_RETENTION_DAYS"]),
        "access_packages": (_("Deleted %(days)d days after it is prepared.")
                            % {"days": limits["ACCESS_PACKAGE_DAYS"]}, ["ACCESS_PACKAGE_DAYS"]),
    }
    sentence, names = rules[data]
    return {"rule": str(sentence), "settings": {name: limits[name] for name in names}}


def _held() -> dict[str, int]:
    """What the database holds of each category of data, now."""
    return {
        "scraped_photos": Photo.objects.count(),
        "face_templates": Face.objects.count(),
        "selfies": RightsRequest.objects.filter(selfie_embedding__isnull=False).count(),
        "camera_measures": LivenessChallenge.objects.count() + FrameFingerprint.objects.count(),
        "email_addresses": RightsRequest.objects.exclude(email="").count(),
        "request_records": RightsRequest.objects.count(),
        "access_packages": AccessPackage.objects.exclude(file="").count(),
        "search_logs": CustomerSearch.objects.count(),
        "customer_accounts": Customer.objects.count(),
    }


def _people_counts() -> dict[str, dict]:
    return {
        "photographed": {"count": Face.objects.count(), "counted_as": "faces"},
        "requesters": {"count": RightsRequest.objects.exclude(email_hash="")
                       .values("email_hash").distinct().count(),
                       "counted_as": "distinct_addresses"},
        "customer_staff": {"count": Customer.objects.count(), "counted_as": "customers"},
    }


def _recipients() -> list[dict]:
    counts = {(row["kind"], row["account"]): row["n"] for row in
              Customer.objects.values("kind", "account").annotate(n=Count("pk"))}
    return [{"kind": kind, "label": str(label),
             "customers": sum(n for (k, _a), n in counts.items() if k == kind),
             "trial_accounts": counts.get((kind, Customer.Account.TRIAL), 0),
             "paid_accounts": counts.get((kind, Customer.Account.PAID), 0)}
            for kind, label in Customer.Kind.choices]


def _transfers() -> list[dict]:
    by_country = (Customer.objects.values("country").annotate(n=Count("pk")).order_by("country"))
    return [{**disclosures.transfer_safeguard(row["country"]), "customers": row["n"]}
            for row in by_country if row["country"] not in disclosures.EEA]


def _audit_trigger_enabled() -> bool:
    """Whether the database refuses changes to the audit table right now
    (its trigger exists and is not disabled)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = %s "
                       "AND tgrelid = %s::regclass",
                       ["subjects_audit_append_only", AuditEvent._meta.db_table])
        row = cursor.fetchone()
    return row is not None and row[0] != "D"


def _database_transport() -> str:
    database = settings.DATABASES["default"]
    host = str(database.get("HOST") or "")
    if not host or host.startswith("/"):
        return "unix_socket"
    return str(database.get("OPTIONS", {}).get("sslmode") or "not_set")


def security_measures() -> list[dict]:
    head = chain_head()
    key_file = settings.RECEIPT_SIGNING_KEY_FILE
    signing = key_file.exists()
    web_tls = settings.SECURE_SSL_REDIRECT or bool(getattr(settings, "SECURE_PROXY_SSL_HEADER",
                                                           None))
    transport = _database_transport()
    measures = [
        ("second_factor", _("Second factor (TOTP) for the DPO's accounts"),
         settings.REQUIRE_DPO_2FA, {"REQUIRE_DPO_2FA": settings.REQUIRE_DPO_2FA}),
        ("append_only_audit", _("Append-only, hash-chained audit trail, refused UPDATE and "
                                "DELETE by the database"),
         _audit_trigger_enabled(), {"events": head.sequence, "head": head.hash}),
        ("signed_receipts", _("Erasure receipts and audit heads signed with Ed25519"),
         signing, {"RECEIPT_SIGNING_KEY_FILE": "set" if signing else "missing"}),
        ("tls_web", _("Encryption in transit: HTTPS for the portal"), web_tls,
         {"SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
          "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
          "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE}),
        ("tls_email", _("Encryption in transit: TLS to the mail server"),
         settings.EMAIL_USE_TLS or settings.EMAIL_USE_SSL,
         {"EMAIL_USE_TLS": settings.EMAIL_USE_TLS, "EMAIL_USE_SSL": settings.EMAIL_USE_SSL}),
        ("tls_database", _("Encryption in transit: to the database (or a local socket)"),
         transport in ("unix_socket", "require", "verify-ca", "verify-full"),
         {"connection": transport}),
        ("rate_limits", _("Limits on requests, selfies and logins per address"),
         settings.RATE_LIMITS_ENABLED, {"RATE_LIMITS_ENABLED": settings.RATE_LIMITS_ENABLED}),
        ("private_media", _("Photos and selfies never served as public files"),
         settings.MEDIA_URL is None, {"MEDIA_URL": settings.MEDIA_URL}),
    ]
    return [{"code": code, "label": str(label), "in_force": bool(in_force), "detail": detail}
            for code, label, in_force, detail in measures]


def record_of_processing(*, now: dt.datetime | None = None) -> dict:
    """The record, now, in the active language."""
    now = now or timezone.now()
    limits = retention_settings()
    held = _held()
    people = _people_counts()
    controller = disclosures.controller()
    return {
        "schema": SCHEMA,
        "generated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "controller": {"name": controller["name"], "address": controller["address"]},
        "representative": controller["representative"] or None,
        "dpo": {"email": controller["dpo_email"]},
        "supervisory_authority": disclosures.authority(),
        "purposes": disclosures.purposes(),
        "categories_of_people": [{"code": code, "label": str(label), **people[code]}
                                 for code, label in PEOPLE_CATEGORIES.items()],
        "categories_of_data": [{"code": code, "label": str(label), "held": held[code],
                                "retention": _retention(code, limits)}
                               for code, label in DATA_CATEGORIES.items()],
        "suppression_list": {"templates": Suppression.objects.count(),
                             "legal_basis": "Art. 9(2)(a)"},
        "recipients": _recipients(),
        "transfers": _transfers(),
        "retention_settings": limits,
        "security_measures": security_measures(),
    }


def record_rows(record: dict) -> list[list[str]]:
    """The record as rows of a CSV: section, item, field, value."""
    rows = [["section", "item", "field", "value"]]

    def add(section, item, field, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                add(section, item, f"{field}.{key}" if field else key, inner)
            return
        if isinstance(value, bool):
            value = "yes" if value else "no"
        rows.append([section, item, field, "" if value is None else str(value)])

    for section, value in record.items():
        if isinstance(value, list):
            for number, entry in enumerate(value, 1):
                item = entry.get("code") or entry.get("kind") or entry.get("country") or \
                    str(number)
                add(section, item, "", entry)
        else:
            add(section, "", "", value)
    return rows
