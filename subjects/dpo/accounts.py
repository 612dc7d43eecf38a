"""DPO accounts and their second factor (TOTP, RFC 6238, via django-otp)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django_otp import devices_for_user
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

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
    user.is_staff = True
    user.is_active = True
    user.set_password(password)
    user.save()
    user.groups.add(dpo_group())
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    return user, Enrolment(device)


class LoginRefused(Exception):
    pass


def check_login(request, *, email: str, password: str, code: str):
    """The account behind a DPO login, with the device that verified the
    code (None where no second factor is required or given); raises
    ``LoginRefused`` with the same message whatever was wrong."""
    user = authenticate(request, username=email.strip().lower(), password=password)
    if user is None or not is_dpo(user):
        raise LoginRefused
    code = code.strip().replace(" ", "")
    device = None
    if code:
        for candidate in devices_for_user(user, confirmed=True):
            with transaction.atomic():
                # Re-read under a lock: a code counts once, even in a race.
                locked = type(candidate).objects.select_for_update().get(pk=candidate.pk)
                if locked.verify_token(code):
                    device = locked
                    break
        if device is None:
            raise LoginRefused
    elif requires_second_factor():
        raise LoginRefused
    return user, device
