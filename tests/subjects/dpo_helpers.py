"""Personas and requests for the DPO dashboard and API tests.

- dora: a DPO, with her authenticator enrolled;
- sam: staff, with a second factor too, but outside the DPO group;
- a requester holding only their request's access token;
- anonymous visitors.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from subjects.core import tokens
from subjects.dpo import accounts
from subjects.dpo.models import ApiKey
from subjects.models import RequestJob, RightsRequest
from subjects.person import intake

DORA = "dora.dpo@example.org"
SAM = "sam.staff@example.org"
PASSWORD = "correct horse battery staple 42"


def make_dpo(email: str = DORA):
    user, enrolment = accounts.create_dpo(email, password=PASSWORD)
    return user, enrolment


def make_staff(email: str = SAM):
    user = get_user_model().objects.create_user(email, email=email, password=PASSWORD,
                                                is_staff=True)
    TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return user


def log_in_verified(client, user):
    """A session as after a login with the second factor."""
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user).first()
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def dpo_key(user, scope: str = "act") -> str:
    return ApiKey.issue(name="tool", purpose=ApiKey.Purpose.DPO, user=user, scope=scope)[1]


def crawler_key() -> str:
    return ApiKey.issue(name="crawler", purpose=ApiKey.Purpose.CRAWLER)[1]


def embedding(seed: int = 0) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=128)
    return (vector / np.linalg.norm(vector) * 0.5).astype(np.float32).tolist()


def make_request(state: str = "awaiting_review", *, email: str = "", language: str = "en",
                 received_days_ago: int | None = 3, kinds=("access",), **fields
                 ) -> RightsRequest:
    """A verified request moved straight to ``state`` (its history as far
    as verification is real: events and e-mails)."""
    approved = fields.pop("approved", True)
    email = email or f"person.{RightsRequest.objects.count()}.{state}@example.org"
    request = intake.start_request(email=email, language=language)
    if state not in ("unverified", "expired"):
        request = intake.verify_email(tokens.verification_token(request))
    values = {
        "state": state,
        "selfie_model": "dlib",
        "selfie_embedding": embedding(request.pk),
        **{kind: kind in kinds for kind in ("access", "erasure", "objection")},
    }
    if received_days_ago is not None:
        values["received_at"] = timezone.now() - dt.timedelta(days=received_days_ago)
    values.update(fields)
    RightsRequest.objects.filter(pk=request.pk).update(**values)
    request.refresh_from_db()
    request.save(update_fields=["due_on"])  # what the state machine keeps
    if state == "error" and approved:
        RequestJob.objects.get_or_create(request=request, kind="access", defaults={"order": 0})
    return request


def requester_token(request: RightsRequest) -> str:
    return tokens.access_token(request)
