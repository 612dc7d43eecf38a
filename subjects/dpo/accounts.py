"""DPO accounts and their second factor (TOTP, RFC 6238, via django-otp)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.ratelimit import client_ip, enforce
from portal.rates import Rate
from subjects.dpo.models import ApiKey
from subjects.dpo.permissions import dpo_group, is_dpo, requires_second_factor

DEVICE_NAME = "authenticator app"


@dataclass(frozen=True)
class Enrolment:
    """What a new DPO needs to enrol their authenticator app."""

    device: TOTPDevice

    @property
    def secret(self) -> str:
        """The key in base32, as authenticator apps take it when typed in."""
        return base64.b32encode(self.device.bin_key).decode("ascii").rstrip("=")

    @property
    def uri(self) -> str:
        return self.device.config_url


def current_code(secret: str) -> str:
    """The code an authenticator app shows now for a base32 ``secret``."""
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return f"{TOTP(base64.b32decode(padded)).token():06d}"


def new_password() -> str:
    return secrets.token_urlsafe(15)


@transaction.atomic
def create_dpo(email: str, *, password: str, reset: bool = False) -> tuple[object, Enrolment]:
    """Create (or with ``reset``, re-key) a DPO account: staff, in the DPO
    group, with a fresh confirmed TOTP device replacing any earlier one."""
    User = get_user_model()
    email = email.strip().lower()
    user = User.objects.filter(username=email).first()
    if user is not None and not reset:
        raise ValueError(f"An account {email} exists already; use --reset to give it a new "
                         "password and a new authenticator key.")
    if user is None:
        user = User(username=email, email=email)
    validate_password(password, user)
    user.email = email
    # The DPO area checks the group, not is_staff: a DPO account is no staff
    # account of Django's admin (which is for superusers only).
    user.is_staff = user.is_superuser
    user.is_active = True
    user.set_password(password)
    user.save()
    user.groups.add(dpo_group())
    TOTPDevice.objects.filter(user=user).delete()
    if reset:
        # A reset is what follows a lost phone or a leaked password: no key
        # made before it keeps working.
        revoke_keys_of(user)
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    return user, Enrolment(device)


def revoke_keys_of(user) -> int:
    """Revoke every active API key of ``user``; returns how many."""
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now())


TOO_MANY_LOGINS = _("Too many login attempts. Please wait a while and try again.")
WRONG_ADMIN_LOGIN = _("The e-mail address, the password or the code is wrong, or this account "
                      "has no access to the administration.")


class LoginRefused(Exception):
    pass


def hold_back_guessing(request, email: str) -> None:
    """Count a login attempt per client address and per account, for every
    staff door alike (the dashboard and the admin share the counts); raises
    ``portal.ratelimit.RateLimited`` over the limit."""
    limit = Rate.parse(settings.RATE_LIMITS["login"])
    enforce("dpo-login-ip", client_ip(request), limit, TOO_MANY_LOGINS)
    enforce("dpo-login-email", email.strip().lower(), limit, TOO_MANY_LOGINS)


def check_login(request, *, email: str, password: str, code: str, door: str = "dpo"):
    """The account behind a staff login, with the device that verified the
    code (None where no second factor is required or given); raises
    ``LoginRefused`` with the same message whatever was wrong: the password,
    the code, or an account that may not use this door ("dpo": the DPO
    group; "admin": superusers)."""
    user = authenticate(request, username=email.strip().lower(), password=password)
    allowed = is_dpo(user) if door == "dpo" else bool(user and user.is_active
                                                       and user.is_superuser)
    if user is None or not allowed:
        raise LoginRefused
    code = code.strip().replace(" ", "")
    device = verified_device(user, code) if code else None
    if code and device is None:
        raise LoginRefused
    if device is None and requires_second_factor():
        raise LoginRefused
    return user, device


def verified_device(user, code: str):
    """The confirmed device of ``user`` that accepts ``code`` now, or None.
    A code counts once, even when two logins race with it."""
    code = code.strip().replace(" ", "")
    if not code:
        return None
    for candidate in devices_for_user(user, confirmed=True):
        with transaction.atomic():
            locked = type(candidate).objects.select_for_update().get(pk=candidate.pk)
            if locked.verify_token(code):
                return locked
    return None
