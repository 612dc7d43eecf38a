"""What the controller tells every person about the processing (Art. 13-15):
purposes, retention, the source of the data, their rights. One place, used
by the access report, its JSON and the landing page."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _

PURPOSES = [
    _("Offering a face search service to customers (law enforcement, retailers, banks): "
      "finding photos in which a given face appears."),
    _("Keeping a log of customer searches, as evidence of what was disclosed to whom."),
]
RETENTION = _("Photos and faces are kept until they are erased on request or the source is "
              "removed; the customer search log is kept for five years. Your selfie is deleted "
              "as soon as it has been processed, and its template when your request is closed "
              "(unless you chose to keep it only to block re-collection).")
SOURCE = _("The photos were collected automatically from publicly accessible websites and "
           "social media (Art. 14(2)(f) GDPR): the address of each photo and of the page it was "
           "on are listed with it.")
RIGHTS = [
    _("Access to your data (Art. 15)"),
    _("Rectification (Art. 16)"),
    _("Erasure (Art. 17)"),
    _("Restriction of processing (Art. 18)"),
    _("Objection to processing (Art. 21)"),
    _("Lodging a complaint with a supervisory authority (Art. 77) and going to court (Art. 79)"),
]


def controller() -> dict:
    return {"name": settings.CONTROLLER_NAME, "address": settings.CONTROLLER_ADDRESS,
            "dpo_email": settings.DPO_EMAIL}


def authority() -> dict:
    return {"name": settings.SUPERVISORY_AUTHORITY_NAME, "url": settings.SUPERVISORY_AUTHORITY_URL,
            "address": settings.SUPERVISORY_AUTHORITY_ADDRESS}
