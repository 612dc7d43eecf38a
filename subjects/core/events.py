"""The catalogue of audit events: every action the trail records, once.

Each event is a member of :class:`Action`, with the sentence that names it
on the person's status page and on the DPO's timeline; writers pass the
member (to :func:`~subjects.core.transitions.transition`, or through the
functions below for events that change no state), and the pages read the
label back with :func:`label`. No other module spells an action.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from subjects.core.audit import RECIPIENT, REQUESTER, SYSTEM, record_event
from subjects.models import AuditEvent, RecipientNotice, RightsRequest


class Action(models.TextChoices):
    CREATED = "created", _("Request started")
    EMAIL_VERIFIED = "email_verified", _("E-mail address confirmed")
    SELFIE_SUBMITTED = "selfie_submitted", _("Selfie received")
    SELFIE_LOST = "selfie_lost", _("The selfie could not be read; a new one is needed")
    SELFIE_REJECTED = "selfie_rejected", _("The selfie could not be used; a new one is needed")
    LIVENESS_FAILED = "liveness_failed", _("The camera check did not pass")
    BROWSER_CONFIRMED = "browser_confirmed", _("E-mail address confirmed in another browser")
    NEW_LINK_SENT = "new_link_sent", _("A new confirmation link was e-mailed")
    REFERENCE_FRAME_DELETED = "reference_frame_deleted", _(
        "The camera picture kept for the Data Protection Officer was deleted")
    CLAIMS_CONFIRMED = "claims_confirmed", _(
        "The Data Protection Officer confirmed faces you claimed as yours")
    SEARCH_DONE = "search_done", _("Search done")
    SEARCH_AGAIN = "search_again", _("Searched again by the Data Protection Officer")
    REQUESTER_CONFIRMED = "requester_confirmed", _(
        "The Data Protection Officer confirmed that the photo is yours")
    FILED = "filed", _("Request received")
    QUEUED_FOR_REVIEW = "queued_for_review", _("Sent to the Data Protection Officer")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXTENDED = "extended", _("Time limit extended")
    INFO_REQUESTED = "info_requested", _("Information requested")
    INFO_RECEIVED = "info_received", _("Information received")
    RESUMED = "resumed", _("Resumed after an error")
    JOB_FAILED = "job_failed", _("Stopped by an error")
    PACKAGE_BUILT = "package_built", _("Access package prepared")
    PACKAGE_DOWNLOADED = "package_downloaded", _("Access package downloaded")
    PACKAGE_PURGED = "package_purged", _("Access package deleted after expiry")
    COMPLETED = "completed", _("Completed")
    EXPIRED = "expired", _("Expired")
    PERSONAL_DATA_PURGED = "personal_data_purged", _("Personal data deleted after retention")
    TEMPLATE_CONSENT_WITHDRAWN = "template_consent_withdrawn", _(
        "Consent withdrawn: the face template kept to block re-collection was deleted")
    NOTICE_ACKNOWLEDGED = "notice_acknowledged", _(
        "A recipient of your data confirmed that it acted on the erasure (Art. 19)")
    ERASURE_REAPPLIED = "erasure_reapplied", _(
        "Erasure carried out again after a restore from backup")
    LINKS_RENEWED = "links_renewed", _(
        "The request's links were cut and a new one e-mailed")


def label(action: str) -> str:
    """The sentence for an event's action; an unknown one (from an older
    version) reads as "Updated"."""
    try:
        return str(Action(action).label)
    except ValueError:
        return str(_("Updated"))


# -- events that change no state (the others are written by transition()) ------------


def request_created(request: RightsRequest, *, language: str) -> AuditEvent:
    return record_event(request, actor=REQUESTER, action=Action.CREATED,
                        to_state=request.state,
                        details={"language": language, "biometric_consent": True})


def liveness_failed(request: RightsRequest, *, code: str) -> AuditEvent:
    return record_event(request, actor=REQUESTER, action=Action.LIVENESS_FAILED, reason=code)


def links_renewed(request: RightsRequest, *, actor: str) -> AuditEvent:
    return record_event(request, actor=actor, action=Action.LINKS_RENEWED)


def browser_confirmed(request: RightsRequest) -> AuditEvent:
    return record_event(request, actor=REQUESTER, action=Action.BROWSER_CONFIRMED)


def new_link_sent(request: RightsRequest) -> AuditEvent:
    return record_event(request, actor=REQUESTER, action=Action.NEW_LINK_SENT)


def reference_frame_deleted(request: RightsRequest, *, actor: str) -> AuditEvent:
    return record_event(request, actor=actor, action=Action.REFERENCE_FRAME_DELETED)


def claims_confirmed(request: RightsRequest, *, actor: str, confirmed: int,
                     declined: int) -> AuditEvent:
    return record_event(request, actor=actor, action=Action.CLAIMS_CONFIRMED,
                        details={"confirmed": confirmed, "declined": declined})


def deadline_extended(request: RightsRequest, *, actor: str, months: int,
                      reason: str) -> AuditEvent:
    return record_event(request, actor=actor, action=Action.EXTENDED, reason=reason,
                        from_state=request.state, to_state=request.state,
                        details={"months": months, "due_date": request.due_date.isoformat()})


def package_built(request: RightsRequest, *, photos: int, recipients: int,
                  size: int) -> AuditEvent:
    return record_event(request, actor=SYSTEM, action=Action.PACKAGE_BUILT,
                        details={"photos": photos, "recipients": recipients, "bytes": size})


def package_downloaded(request: RightsRequest, *, actor: str) -> AuditEvent:
    return record_event(request, actor=actor, action=Action.PACKAGE_DOWNLOADED)


def package_purged(request: RightsRequest) -> AuditEvent:
    return record_event(request, actor=SYSTEM, action=Action.PACKAGE_PURGED)


def personal_data_purged(request: RightsRequest) -> AuditEvent:
    return record_event(request, actor=SYSTEM, action=Action.PERSONAL_DATA_PURGED)


def template_consent_withdrawn(request: RightsRequest, *, actor: str, templates: int) -> AuditEvent:
    return record_event(request, actor=actor, action=Action.TEMPLATE_CONSENT_WITHDRAWN,
                        details={"templates_deleted": templates})


def notice_acknowledged(notice: RecipientNotice) -> AuditEvent:
    return record_event(notice.request, actor=RECIPIENT, action=Action.NOTICE_ACKNOWLEDGED,
                        details={"customer": notice.customer.name,
                                 "confirmed": notice.acknowledged_as})


def erasure_reapplied(request: RightsRequest | None, *, reference: str,
                      details: dict) -> AuditEvent:
    """A restore brought back what an erasure had removed; it was removed
    again (subjects/jobs/reapply.py)."""
    return record_event(request, actor=SYSTEM, action=Action.ERASURE_REAPPLIED,
                        reference=reference, details=details)
