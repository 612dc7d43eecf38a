"""The categories of data and of people the portal and its face database
hold: one home for the breach register (what a breach touched) and the
record of processing (Art. 30(1)(c)). Codes are stored; labels are shown,
in the reader's language."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

DATA_CATEGORIES = {
    "scraped_photos": _("Scraped photos and where they were found"),
    "face_templates": _("Face templates (embeddings) of the face index"),
    "selfies": _("Selfies sent with requests, and their templates"),
    "camera_measures": _("Camera-check measures and replay fingerprints"),
    "email_addresses": _("Requesters' e-mail addresses"),
    "request_records": _("Request records, decisions and their reasons"),
    "access_packages": _("Access packages (copies of a person's data)"),
    "search_logs": _("Customers' search logs"),
    "customer_accounts": _("Customer accounts and their contacts"),
}

PEOPLE_CATEGORIES = {
    "photographed": _("People whose faces are in the scraped photos"),
    "requesters": _("People who made a request on this portal"),
    "customer_staff": _("Customers' staff"),
}


def data_label(code: str) -> str:
    return str(DATA_CATEGORIES.get(code, code))


def people_label(code: str) -> str:
    return str(PEOPLE_CATEGORIES.get(code, code))
