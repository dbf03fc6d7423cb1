from __future__ import annotations

from django.db import models


class HookDelivery(models.Model):
    """A signed webhook delivery accepted recently. Its signature covers its timestamp, so an
    exact replay is refused here while the timestamp is still fresh, and by the clock after."""

    client = models.ForeignKey("syncers.SyncClient", on_delete=models.CASCADE, related_name="+")
    signature = models.CharField(
        max_length=64, help_text="Hex HMAC-SHA256 of the delivery (timestamp and body)."
    )
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["client", "signature"], name="syncers_hook_delivery_once")
        ]

    def __str__(self) -> str:
        return f"delivery {self.signature[:12]}… at {self.received_at:%Y-%m-%d %H:%M:%S}"
