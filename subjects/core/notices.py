"""Art. 19 notices: every customer that received a person's faces is told
of their erasure, and confirms by a signed link (``tokens``) that it erased
or stopped using them. The DPO's request page, the access package and the
transparency page read the confirmations from here.

Art. 19 covers restriction too: when a person's faces are restricted (their
request filed, a claimed face confirmed) and when the restriction is lifted,
the customers whose searches returned them are told
(:func:`tell_recipients_of_restriction`)."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import transaction
from django.utils import timezone

from search.erasure import recipients_of, searches_of
from search.models import Customer
from subjects.core import events
from subjects.core.outbox import queue_email
from subjects.models import RecipientNotice, RightsRequest

RESTRICTED = "art19_restricted"
RESTRICTION_LIFTED = "art19_restriction_lifted"


def tell_recipients_of_restriction(request: RightsRequest, face_ids, *, lifted: bool) -> int:
    """Art. 19: tell every customer whose searches returned any of
    ``face_ids`` that these faces are now restricted (``lifted``: that their
    restriction is lifted), naming its searches so it finds its copies. One
    message per customer and set of faces, so a repeat sends nothing twice.
    Returns how many customers were told (one without a contact address
    cannot be; the erasure's notice asks the DPO to reach it)."""
    face_ids = sorted(set(face_ids))
    if not face_ids:
        return 0
    kind = RESTRICTION_LIFTED if lifted else RESTRICTED
    digest = hashlib.sha256(",".join(map(str, face_ids)).encode()).hexdigest()[:16]
    recipients = recipients_of(face_ids)
    searches = searches_of(face_ids)
    told = 0
    for customer in Customer.objects.filter(pk__in=list(recipients)).order_by("pk"):
        if not customer.contact_email:
            continue
        queue_email(
            request, kind, event_key=f"{kind}:{request.reference}:{customer.pk}:{digest}",
            recipient=customer.contact_email, language="en",
            context={"customer": customer.name, "faces": len(recipients[customer.pk]),
                     "searches": [{**row, "searched_at": dt.datetime.fromisoformat(
                         row["searched_at"]).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
                                  for row in searches.get(customer.pk, [])]})
        told += 1
    return told


def record_notice(request: RightsRequest, customer: Customer, *, faces: int) -> RecipientNotice:
    """The notice of ``request``'s erasure to ``customer`` (once)."""
    notice, _created = RecipientNotice.objects.get_or_create(
        request=request, customer=customer, defaults={"faces": faces})
    return notice


def acknowledge(notice: RecipientNotice, *, confirmed: str) -> RecipientNotice:
    """The customer's confirmation, recorded once; a second one changes
    nothing and returns the first."""
    if confirmed not in RecipientNotice.Confirmation.values:
        raise ValueError(f"unknown confirmation {confirmed!r}")
    with transaction.atomic():
        locked = (RecipientNotice.objects.select_for_update().select_related("request", "customer")
                  .get(pk=notice.pk))
        if locked.acknowledged_at is None:
            locked.acknowledged_at = timezone.now()
            locked.acknowledged_as = confirmed
            locked.save(update_fields=["acknowledged_at", "acknowledged_as"])
            events.notice_acknowledged(locked)
    return locked


def notices_of(request: RightsRequest) -> list[RecipientNotice]:
    return list(request.notices.select_related("customer"))


def notices_of_person(request: RightsRequest) -> list[RecipientNotice]:
    """The notices of every erasure the same person (by their exact
    verified address) asked for, oldest first."""
    return list(RecipientNotice.objects.filter(request__in=request.same_address())
                .select_related("customer", "request"))
