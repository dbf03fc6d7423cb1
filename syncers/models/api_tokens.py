"""Per-user API tokens for the HTTP API (syncers.api). Only a SHA-256 digest of the token is
stored: the token is 32 random bytes, so a fast hash is enough (no dictionary to attack), and
a lookup by digest stays one indexed query. The first characters are kept for display."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token that acts as its user, with exactly that user's permissions and grants."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name="user",
        help_text="The token acts as this user: the same permissions and client grants.",
    )
    name = models.CharField("name", max_length=100, help_text="What the token is for, e.g. 'ci-deploy'.")
    prefix = models.CharField(
        "prefix", max_length=16, editable=False, help_text="The token's first characters, to recognise it."
    )
    key_hash = models.CharField(
        "digest", max_length=64, unique=True, editable=False, help_text="SHA-256 of the token (hex)."
    )
    created_at = models.DateTimeField("created", auto_now_add=True)
    last_used_at = models.DateTimeField("last used", null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        "expires", null=True, blank=True, help_text="Refused from then on; empty: until revoked."
    )
    revoked_at = models.DateTimeField("revoked", null=True, blank=True, editable=False)
    revoked_by = models.CharField("revoked by", max_length=150, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.user})"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.is_usable else "expired"
