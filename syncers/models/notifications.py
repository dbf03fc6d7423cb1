from django.db import models

from .clients import SyncClient
from .runs import SyncRun


class Notification(models.Model):
    """One message sent (or attempted) to one recipient on one channel: the record of who was
    told what, when, and whether it arrived."""

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name="client",
        help_text="The client it is about.",
    )
    run = models.ForeignKey(
        SyncRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
        verbose_name="run",
        help_text="The run that caused it, if any.",
    )
    event = models.CharField("event", max_length=40, help_text="State change, e.g. auth_pause or recovery.")
    level = models.CharField("level", max_length=10, help_text="notice, warning or error.")
    channel = models.CharField("channel", max_length=20, help_text="email or webhook.")
    recipient = models.CharField("recipient", max_length=500, help_text="Address or URL host it went to.")
    subject = models.CharField("subject", max_length=300, help_text="Short summary.")
    body = models.TextField("body", help_text="What was sent (never contains credentials).")
    delivered = models.BooleanField("delivered", default=False, help_text="The channel accepted it.")
    outcome = models.CharField("outcome", max_length=500, blank=True, help_text="Delivery error, if any.")
    created_at = models.DateTimeField("sent at", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "notification"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.level} {self.event} → {self.recipient}"
