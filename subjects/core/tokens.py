"""The secrets in the links a person receives.

- The verification link is signed, expires after 24 hours and dies once
  used: it signs the request's verification nonce, which verifying clears.
- The access token opens a request's own pages (selfie, matches, status).
  It is an HMAC of the reference and a per-request salt, so it cannot be
  forged, is never stored, and dies when the salt is changed.
- The download token opens one access package once, for a few minutes
  (``PACKAGE_LINK_MAX_AGE``), in the browser whose status page made it:
  it signs the package's download count, which downloading raises, so a
  used link dies by itself. The e-mail carries only the status link.
- The acknowledgement token lets one customer confirm one Art. 19 notice,
  for ``ART19_LINK_DAYS`` days from the e-mail that carried it.

- The browser binding: confirming the address (by a button, so that a mail
  scanner following the link does not use it) puts a random secret in a
  signed, HttpOnly cookie of that browser and its hash on the request; the
  access token opens the request's pages only beside that cookie. Another
  browser is asked to confirm the address again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from subjects.models import AccessPackage, RecipientNotice, RightsRequest

VERIFICATION_MAX_AGE = dt.timedelta(hours=24)
#: A download link, made on the status page, is meant to be followed at once.
PACKAGE_LINK_MAX_AGE = dt.timedelta(minutes=10)
_VERIFY_SALT = "subjects.verification"
_ACCESS_SALT = "subjects.access"
_PACKAGE_SALT = "subjects.access-package"
_NOTICE_SALT = "subjects.art19-acknowledgement"
_BROWSER_SALT = "subjects.browser"
#: Browsers one request remembers (the latest ones).
MAX_BROWSERS = 5
#: The binding cookie lasts as long as a request can (with its retention).
BROWSER_COOKIE_AGE = dt.timedelta(days=400)


class LinkProblem(Exception):
    """A link that cannot be used, with why (``code``)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code  # "invalid", "expired" or "used"


def verification_token(request: RightsRequest) -> str:
    return signing.TimestampSigner(salt=_VERIFY_SALT).sign(
        f"{request.reference}:{request.verification_nonce}"
    )


def request_for_verification(token: str) -> RightsRequest:
    signer = signing.TimestampSigner(salt=_VERIFY_SALT)
    try:
        value = signer.unsign(token, max_age=VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise LinkProblem("expired") from None
    except signing.BadSignature:
        raise LinkProblem("invalid") from None
    reference, _, nonce = value.partition(":")
    request = RightsRequest.objects.filter(reference=reference).first()
    if request is None:
        raise LinkProblem("invalid")
    if not request.verification_nonce or not constant_time_compare(
        nonce, request.verification_nonce
    ):
        raise LinkProblem("used")
    return request


def request_of_used_link(token: str) -> RightsRequest | None:
    """The request a genuine verification link names while the link is
    within its age, used or not (None otherwise): for a second click in the
    browser that the first click bound, which may simply go on, and for
    another browser, which may ask for the link to be sent again."""
    try:
        value = signing.TimestampSigner(salt=_VERIFY_SALT).unsign(
            token, max_age=VERIFICATION_MAX_AGE)
    except signing.BadSignature:
        return None
    reference = value.partition(":")[0]
    return RightsRequest.objects.filter(reference=reference, verified_at__isnull=False).first()


def _access_mac(request: RightsRequest, secret: str | None = None) -> str:
    return salted_hmac(_ACCESS_SALT, f"{request.reference}:{request.access_salt}",
                       secret=secret, algorithm="sha256").hexdigest()[:40]


def access_token(request: RightsRequest) -> str:
    return f"{request.reference}.{_access_mac(request)}"


def request_for_access(token: str) -> RightsRequest | None:
    """The request a token opens, or None (the caller answers 404 either way)."""
    reference, _, mac = token.partition(".")
    if not reference or not mac:
        return None
    request = RightsRequest.objects.filter(reference=reference).first()
    if request is None or request.verified_at is None:
        return None
    # Made with SECRET_KEY, or with a key it replaced (SECRET_KEY_FALLBACKS):
    # rotating the key does not lock out everyone who holds a link.
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if constant_time_compare(_access_mac(request, secret), mac):
            return request
    return None


def download_token(package: AccessPackage) -> str:
    return signing.TimestampSigner(salt=_PACKAGE_SALT).sign(
        f"{package.request.reference}:{package.pk}:{package.downloads}")


def package_for_download(token: str) -> AccessPackage | None:
    """The package a download link opens while it is fresh, unused and the
    file is there, else None. The caller still checks the browser and
    claims the download (``access_package.record_download``)."""
    try:
        value = signing.TimestampSigner(salt=_PACKAGE_SALT).unsign(
            token, max_age=PACKAGE_LINK_MAX_AGE)
    except signing.BadSignature:
        return None
    reference, package_id, downloads = (value.split(":") + ["", ""])[:3]
    package = AccessPackage.objects.select_related("request").filter(
        pk=package_id if package_id.isdigit() else None, request__reference=reference).first()
    if package is None or not package.is_available or not package.file:
        return None
    if not constant_time_compare(downloads, str(package.downloads)):
        return None
    return package


def package_of_download_link(token: str) -> AccessPackage | None:
    """The package a genuine download link names while the file is still
    there, however old or used the link: its status page can make a new one."""
    try:
        value = signing.TimestampSigner(salt=_PACKAGE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    reference, _, rest = value.partition(":")
    package_id = rest.partition(":")[0]
    package = AccessPackage.objects.filter(
        pk=package_id if package_id.isdigit() else None, request__reference=reference).first()
    return package if package is not None and package.is_available and package.file else None


def acknowledgement_token(notice: RecipientNotice) -> str:
    return signing.TimestampSigner(salt=_NOTICE_SALT).sign(
        f"{notice.pk}:{notice.customer_id}")


def notice_for_acknowledgement(token: str) -> RecipientNotice:
    """The notice a recipient's link confirms; :class:`LinkProblem` with
    "expired" or "invalid" otherwise."""
    signer = signing.TimestampSigner(salt=_NOTICE_SALT)
    try:
        value = signer.unsign(token, max_age=dt.timedelta(days=settings.ART19_LINK_DAYS))
    except signing.SignatureExpired:
        raise LinkProblem("expired") from None
    except signing.BadSignature:
        raise LinkProblem("invalid") from None
    notice_id, _, customer_id = value.partition(":")
    notice = RecipientNotice.objects.select_related("customer", "request").filter(
        pk=notice_id, customer_id=customer_id).first()
    if notice is None:
        raise LinkProblem("invalid")
    return notice


def browser_cookie_name(request: RightsRequest) -> str:
    return f"frp_{request.reference}"


def new_browser_secret() -> str:
    return secrets.token_urlsafe(32)


def browser_hash(secret: str) -> str:
    return hashlib.sha256(f"{_BROWSER_SALT}:{secret}".encode()).hexdigest()


def browser_cookie_salt() -> str:
    return _BROWSER_SALT


def is_bound_browser(http_request, request: RightsRequest) -> bool:
    """Whether ``http_request`` comes from a browser that confirmed the address."""
    secret = http_request.get_signed_cookie(browser_cookie_name(request), default=None,
                                            salt=_BROWSER_SALT)
    if not secret:
        return False
    digest = browser_hash(secret)
    return any(constant_time_compare(digest, known) for known in request.bound_browsers)
