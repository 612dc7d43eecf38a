"""How API callers prove who they are, what each may call, and how often.

- DPO tools: ``Authorization: Bearer <key>`` with a DPO key (made on the
  dashboard's "API keys" page), or the dashboard's own session (with the
  second factor) for scripts in the browser.
- The crawler: ``Authorization: Bearer <key>`` with a crawler key
  (``manage.py createcrawlerkey``); it may call the suppression check only.
- The requester: their request's access token, in the browser that
  confirmed the address (see ``api.RequestStatus``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from portal.ratelimit import count_hit
from portal.rates import Rate
from subjects.dpo.models import ApiKey
from subjects.dpo.permissions import is_dpo, second_factor_done

# A key's last use is written at most this often: not one write per call.
_TOUCH_EVERY = dt.timedelta(minutes=1)


class CrawlerIdentity:
    """Who a crawler key stands for: no account, only the key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, key: ApiKey):
        self.key = key

    def __str__(self) -> str:
        return f"crawler:{self.key.name}"

    def get_username(self) -> str:
        return str(self)


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.encode():
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("Send the key as: Authorization: Bearer KEY"))
        try:
            presented = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(_("This API key is not valid or was revoked.")) from None
        key = ApiKey.find(presented)
        if key is None:
            raise AuthenticationFailed(_("This API key is not valid or was revoked."))
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        if key.purpose == ApiKey.Purpose.CRAWLER:
            return CrawlerIdentity(key), key
        if not key.user.is_active:
            raise AuthenticationFailed(_("The account of this API key is disabled."))
        return key.user, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "subjects.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API key: a DPO key from the dashboard's API keys page, or "
                               "a crawler key from manage.py createcrawlerkey."}


class IsDpo(BasePermission):
    message = _("Only members of the DPO group may use this endpoint.")

    def has_permission(self, request, view):
        if isinstance(request.auth, ApiKey):
            return request.auth.purpose == ApiKey.Purpose.DPO and is_dpo(request.user)
        # The dashboard's session: only once the second factor is done.
        return is_dpo(request.user) and second_factor_done(request.user)


class CanAct(IsDpo):
    """What changes a request: a DPO key made with the "read and act" scope,
    or the dashboard's session."""

    message = _("This API key may only read: make a key with the scope \"read and act\" "
                "on the dashboard's API keys page to act on requests.")

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        return not isinstance(request.auth, ApiKey) or request.auth.scope == ApiKey.Scope.ACT


class IsCrawler(BasePermission):
    message = _("Only a crawler key may use this endpoint.")

    def has_permission(self, request, view):
        return (isinstance(request.auth, ApiKey)
                and request.auth.purpose == ApiKey.Purpose.CRAWLER)


class ApiThrottle(BaseThrottle):
    """Per key, per account, else per address; rates from ``API_RATES``.

    Counted in the store the abuse limits use (``portal.ratelimit``: the
    database, or Redis with ``CACHE_URL``), so every web worker and machine
    shares one count."""

    scope = ""

    def allow_request(self, request, view):
        rate = settings.API_RATES.get(self.scope)
        if not rate:
            return True
        rate = Rate.parse(rate)
        hits, self.seconds_left = count_hit(f"api-{self.scope}", self.identity(request), rate)
        return hits <= rate.limit

    def wait(self):
        return self.seconds_left

    def identity(self, request) -> str:
        if isinstance(request.auth, ApiKey):
            return f"key{request.auth.pk}"
        if request.user is not None and request.user.is_authenticated and request.user.pk:
            return f"user{request.user.pk}"
        return f"ip{self.get_ident(request)}"


class DpoThrottle(ApiThrottle):
    scope = "dpo"


class CrawlerThrottle(ApiThrottle):
    scope = "crawler"


class StatusThrottle(ApiThrottle):
    scope = "status"
