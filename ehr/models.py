"""API keys for the EHR integration. Only a hash of each key is stored."""

import hashlib
import secrets

from django.db import models
from django.utils import timezone

KEY_PREFIX = "sfk_"


def key_hash(raw_key: str) -> str:
    # The keys are 256 random bits, so a fast hash is enough: there is nothing to guess.
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


class ApiKey(models.Model):
    name = models.CharField(max_length=120, unique=True,
                            help_text="Who uses this key, e.g. the EHR system's name.")
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, *, name: str) -> tuple["ApiKey", str]:
        """Create a key; the raw key is returned once and never stored."""
        api_key = cls(name=name)
        raw_key = api_key.set_new_key()
        api_key.save()
        return api_key, raw_key

    def set_new_key(self) -> str:
        raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.hashed_key = key_hash(raw_key)
        return raw_key

    @classmethod
    def authenticate(cls, raw_key: str) -> "ApiKey | None":
        api_key = cls.objects.filter(hashed_key=key_hash(raw_key), revoked_at=None).first()
        if api_key is not None:
            api_key.last_used_at = timezone.now()
            cls.objects.filter(pk=api_key.pk).update(last_used_at=api_key.last_used_at)
        return api_key

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
