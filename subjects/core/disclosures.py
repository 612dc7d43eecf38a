"""What the controller tells every person about the processing (Art. 13-15):
the categories of data, purposes with their legal basis, retention,
automated decisions, transfers outside the EEA, the source of the data,
their rights. One place, used by the access report, its JSON and the
landing page."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _

#: Art. 15(1)(b): the categories of personal data concerned.
CATEGORIES = [
    _("Photos of you collected from websites and social media, with their address, the page "
      "they were on, the site and the date of collection."),
    _("Face templates: for each face of yours in those photos, a list of numbers computed by a "
      "face model to compare faces (biometric data, Art. 9 GDPR)."),
    _("Records of customer searches that returned your face: which customer searched, and "
      "when."),
    _("Your requests on this portal: your e-mail address and language, the template of your "
      "selfie while your request is open, your answers about the matches, dates, decisions "
      "and the audit trail of what happened."),
]

#: Art. 15(1)(a) with Art. 13(1)(c): each purpose and its legal basis.
PURPOSES = [
    {"purpose": _("Offering a face search service to customers (law enforcement, retailers, "
                  "banks): finding photos in which a given face appears."),
     # settings.FACE_SEARCH_LEGAL_BASIS replaces this when the operator sets it.
     "legal_basis": _("As the controller states it: its legitimate interests "
                      "(Art. 6(1)(f) GDPR) and, for the face templates, data manifestly made "
                      "public (Art. 9(2)(e) GDPR). Supervisory authorities have disputed both "
                      "for face search databases built this way; you may object (Art. 21) and "
                      "complain (Art. 77).")},
    {"purpose": _("Keeping a log of customer searches, as evidence of what was disclosed to "
                  "whom."),
     "legal_basis": _("Compliance with the controller's obligations of accountability "
                      "(Art. 5(2) and Art. 6(1)(c) GDPR).")},
    {"purpose": _("Handling your requests on this portal, with your selfie searched only for "
                  "them."),
     "legal_basis": _("Compliance with a legal obligation (Art. 6(1)(c) with Art. 12-22 GDPR); "
                      "for the selfie, your explicit consent (Art. 9(2)(a) GDPR).")},
    {"purpose": _("Keeping your face template only to refuse your face when new photos are "
                  "collected, if you chose it."),
     "legal_basis": _("Your explicit consent (Art. 9(2)(a) GDPR), which you can withdraw at "
                      "any time (Art. 7(3)).")},
]
RETENTION = _("Photos and faces are kept until they are erased on request or the source is "
              "removed; the customer search log is kept for five years. Your selfie is deleted "
              "as soon as it has been processed, and its template when your request is closed "
              "or expires (unless you chose to keep it only to block re-collection). A request "
              "left unfinished expires after a set time, and a closed request keeps your "
              "address and answers for a set time, then only its reference, dates and audit "
              "trail remain.")
SOURCE = _("The photos were collected automatically from publicly accessible websites and "
           "social media (Art. 14(2)(f) GDPR): the address of each photo and of the page it was "
           "on are listed with it.")
#: Art. 15(1)(h): automated decision-making, including profiling (Art. 22).
AUTOMATED_DECISIONS = {
    "used": False,
    "explanation": _("This portal takes no decision about you based solely on automated "
                     "processing (Art. 22 GDPR): the face search only proposes matches, you "
                     "confirm which faces are yours, and the Data Protection Officer reviews "
                     "every request. What a customer decides after a search is that "
                     "customer's own processing."),
}
RIGHTS = [
    _("Access to your data (Art. 15)"),
    _("Rectification (Art. 16)"),
    _("Erasure (Art. 17)"),
    _("Restriction of processing (Art. 18)"),
    _("Objection to processing (Art. 21)"),
    _("Withdrawing your consent at any time, for the future (Art. 7(3))"),
    _("Making a new request whenever you wish, also after one is closed"),
    _("Lodging a complaint with a supervisory authority (Art. 77) and going to court (Art. 79)"),
]

#: The European Economic Area: no transfer safeguard is needed within it.
EEA = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
})
#: Countries with an adequacy decision of the European Commission (Art. 45),
#: as of 2026. The United States is left out: its decision covers only
#: organisations certified under the Data Privacy Framework, which public
#: bodies such as police forces cannot be.
ADEQUATE = frozenset({"AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR",
                      "NZ", "UY"})


def transfer_safeguard(country: str) -> dict:
    """Art. 15(2): where a recipient is, and what protects a transfer there."""
    if country in EEA:
        return {"country": country, "outside_eea": False,
                "safeguard": str(_("No transfer: the recipient is in the European Economic "
                                   "Area."))}
    if country in ADEQUATE:
        return {"country": country, "outside_eea": True,
                "safeguard": str(_("An adequacy decision of the European Commission "
                                   "(Art. 45 GDPR)."))}
    return {"country": country, "outside_eea": True,
            "safeguard": settings.TRANSFER_SAFEGUARDS or str(_(
                "Standard contractual clauses adopted by the European Commission "
                "(Art. 46(2)(c) GDPR); our Data Protection Officer sends you a copy on "
                "request."))}


def purposes() -> list[dict]:
    """Each purpose with its legal basis, in the active language."""
    listed = [{"purpose": str(p["purpose"]), "legal_basis": str(p["legal_basis"])}
              for p in PURPOSES]
    if settings.FACE_SEARCH_LEGAL_BASIS:
        listed[0]["legal_basis"] = settings.FACE_SEARCH_LEGAL_BASIS
    return listed


def controller() -> dict:
    return {"name": settings.CONTROLLER_NAME, "address": settings.CONTROLLER_ADDRESS,
            "dpo_email": settings.DPO_EMAIL,
            "representative": settings.CONTROLLER_REPRESENTATIVE}


def authority() -> dict:
    return {"name": settings.SUPERVISORY_AUTHORITY_NAME, "url": settings.SUPERVISORY_AUTHORITY_URL,
            "address": settings.SUPERVISORY_AUTHORITY_ADDRESS}
