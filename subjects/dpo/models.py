"""API keys: one per tool. The key itself is shown once and only its hash
is stored, so a copy of the database does not open the API."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

KEY_PREFIX = "frp_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKey(models.Model):
    class Purpose(models.TextChoices):
        # The crawler asks whether a face is suppressed, and nothing else.
        CRAWLER = "crawler", _("Crawler: suppression check")
        # A DPO's tool acts as that DPO, while the account stays in the group.
        DPO = "dpo", _("DPO tool")

    name = models.CharField(max_length=100)
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True,
                             blank=True, related_name="api_keys")
    # The first characters, to tell keys apart in lists; not enough to use one.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # DPO keys stop working after DPO_API_KEY_DAYS, crawler keys after
    # CRAWLER_API_KEY_DAYS (keys made before that rule have none: see the
    # migration, which gives them one).
    expires_at = models.DateTimeField(null=True, blank=True)

    class Scope(models.TextChoices):
        # Reads the queue, requests and figures.
        READ = "read", _("Read only")
        # Also acts on requests (approve, reject, extend, ask for information).
        ACT = "act", _("Read and act")

    scope = models.CharField(max_length=4, choices=Scope.choices, default=Scope.READ)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(purpose="crawler", user__isnull=True)
                | models.Q(purpose="dpo", user__isnull=False),
                name="apikey_dpo_keys_have_a_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @classmethod
    def issue(cls, *, name: str, purpose: str, user=None,
              scope: str = "read") -> tuple[ApiKey, str]:
        """A new key: returns the row and the key, which is never shown again."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = timezone.now()
        days = (settings.DPO_API_KEY_DAYS if purpose == cls.Purpose.DPO
                else settings.CRAWLER_API_KEY_DAYS)
        row = cls.objects.create(name=name, purpose=purpose, user=user, prefix=key[:10],
                                 key_hash=hash_key(key), created_at=now,
                                 expires_at=now + dt.timedelta(days=days),
                                 scope=scope if purpose == cls.Purpose.DPO else cls.Scope.READ)
        return row, key

    @classmethod
    def find(cls, key: str) -> ApiKey | None:
        """The active key ``key`` is (not revoked, not expired), or None.
        Keys are long random strings, so looking one up by its hash leaks
        nothing through timing."""
        if not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        return (cls.objects.select_related("user")
                .filter(key_hash=hash_key(key), revoked_at__isnull=True)
                .exclude(expires_at__lte=timezone.now()).first())

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
