"""Abuse limits of the citizen flow: who may ask for how many verification
e-mails and selfie searches. A face search portal is a target: people try
to search other people's faces, to flood the queue, to probe the index."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from portal.ratelimit import RateLimited, enforce
from portal.rates import Rate
from subjects.models import RightsRequest

TOO_MANY_LINKS = _("Too many confirmation e-mails were asked for from here or for this address. "
                   "Please wait an hour and try again, or use the link we already sent.")
TOO_MANY_SELFIES = _("Too many selfies were sent from here or for this address. Please wait and "
                     "try again later.")


def rate(name: str) -> Rate:
    return Rate.parse(settings.RATE_LIMITS[name])


def check_verification_allowed(*, ip: str, email: str) -> None:
    enforce("verify-ip", ip, rate("verify_per_ip"), TOO_MANY_LINKS)
    enforce("verify-email", RightsRequest.hash_email(email), rate("verify_per_email"),
            TOO_MANY_LINKS)


def check_selfie_allowed(*, ip: str, request: RightsRequest) -> None:
    if settings.RATE_LIMITS_ENABLED and request.searches_run >= settings.SEARCHES_PER_REQUEST:
        raise RateLimited(ngettext_lazy(
            "This request has already been searched %(count)d time, the most we allow. "
            "Please file your request with the matches found, or start a new request.",
            "This request has already been searched %(count)d times, the most we allow. "
            "Please file your request with the matches found, or start a new request.",
            "count") % {"count": request.searches_run}, retry_after=86400)
    enforce("selfie-ip", ip, rate("selfie_per_ip"), TOO_MANY_SELFIES)
    enforce("selfie-email", request.email_hash, rate("selfie_per_email"), TOO_MANY_SELFIES)
