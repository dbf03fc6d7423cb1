from django.db import models


class Lease(models.Model):
    """Database-backed lease for the embedded default (no Redis). See syncers.pipeline.lease."""

    name = models.CharField("name", max_length=200, primary_key=True, help_text="What is locked.")
    token = models.CharField("owner token", max_length=64, help_text="Only this owner may renew or release.")
    expires_at = models.FloatField("expires at", help_text="Unix time after which anyone may take it.")

    class Meta:
        verbose_name = "lease"

    def __str__(self) -> str:
        return self.name
