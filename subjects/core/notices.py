"""Art. 19 notices: every customer that received a person's faces is told
of their erasure, and confirms by a signed link (``tokens``) that it erased
or stopped using them. The DPO's request page, the access package and the
transparency page read the confirmations from here."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from search.models import Customer
from subjects.core import events
from subjects.models import RecipientNotice, RightsRequest


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
