"""Who may use the DPO area: active members of the DPO group, verified by
their second factor where the settings require it (the production default)."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache


def dpo_group_name() -> str:
    return settings.DPO_GROUP_NAME


def requires_second_factor() -> bool:
    return settings.REQUIRE_DPO_2FA


def dpo_group() -> Group:
    group, _ = Group.objects.get_or_create(name=dpo_group_name())
    return group


def is_dpo(user) -> bool:
    """An active account in the DPO group (one query, cached on the user)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    cached = getattr(user, "_is_dpo", None)
    if cached is None:
        cached = user.groups.filter(name=dpo_group_name()).exists()
        user._is_dpo = cached
    return cached


def second_factor_done(user) -> bool:
    """Whether this session passed the second factor, where one is required."""
    if not requires_second_factor():
        return True
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def dpo_required(view):
    """The DPO area's door: a visitor who has not logged in (with the second
    factor) goes to the login page; a logged-in account outside the DPO group
    is refused with 403."""

    @wraps(view)
    @never_cache
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated or (is_dpo(user) and not second_factor_done(user)):
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('dpo:login')}?{query}")
        if not is_dpo(user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def actor_name(user) -> str:
    """How the audit trail names a DPO who acted."""
    return f"dpo:{user.get_username()}"
