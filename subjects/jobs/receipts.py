"""The signed erasure receipt: when an erasure (or an objection) completes,
the person gets a small JSON statement of what was done, signed with the
portal's Ed25519 key (``portal.signatures``): the reference, the dates,
the faces and photos erased or redacted, the recipients told, the result of
the final exhaustive check and the audit chain's head after the erasure.

It is issued once, in the transaction that completes the request, kept as
issued, attached to the completion e-mail and downloadable from the status
page. Anyone can check it offline against the published public keys
(``manage.py verify_receipt``, or docs/receipts.md with openssl).
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from portal import signatures
from subjects.core.audit import chain_head
from subjects.models import ErasureReceipt, RequestJob, RightsRequest

RECEIPT_TYPE = "erasure-receipt"
#: The completion e-mails that carry the receipt.
RECEIPT_EMAILS = ("erasure_done", "objection_done")
FINAL_CHECK = ("an exhaustive search of every face of the model, with the person's face "
               "template, found none of their faces above the match threshold, and no "
               "redacted photo shows their face to the model")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def receipt_payload(request: RightsRequest, erasure: RequestJob) -> dict:
    """What the receipt states; read where the request stands now, so call
    it in the transaction that completed the request."""
    result = erasure.result
    head = chain_head()
    checked_at = result.get("verified_at")
    return {
        "type": RECEIPT_TYPE,
        "version": 1,
        "issuer": {"controller": settings.CONTROLLER_NAME, "site": settings.SITE_URL,
                   "keys": settings.SITE_URL + reverse("receipt_keys")},
        "issued_at": timezone.now().isoformat(timespec="seconds"),
        "reference": request.reference,
        "rights": request.kinds,
        "received_at": _iso(request.received_at),
        "completed_at": _iso(request.closed_at),
        "faces_erased": result.get("faces_erased", 0),
        "photos_deleted": result.get("photos_deleted", 0),
        "photos_redacted": result.get("photos_redacted", 0),
        "recipients_notified": result.get("recipients_notified", 0),
        "template_kept_to_block_recollection": bool(
            result.get("template_kept_to_block_recollection")),
        "final_check": {"passed": checked_at is not None, "checked_at": checked_at,
                        "method": FINAL_CHECK},
        "audit_head": {"sequence": head.sequence, "hash": head.hash, "at": _iso(head.at)},
    }


def issue_receipt(request: RightsRequest, erasure: RequestJob) -> ErasureReceipt:
    """Sign and keep the receipt of ``request`` (once)."""
    existing = ErasureReceipt.objects.filter(request=request).first()
    if existing is not None:
        return existing
    document = signatures.sign_document(receipt_payload(request, erasure))
    opened = signatures.open_document(document)
    return ErasureReceipt.objects.create(request=request, key_id=opened.key_id,
                                         document=document)


def receipt_file_name(receipt: ErasureReceipt) -> str:
    return f"{receipt.request.reference}-erasure-receipt.json"


def receipt_of(request: RightsRequest | None) -> ErasureReceipt | None:
    if request is None:
        return None
    return ErasureReceipt.objects.filter(request=request).first()
