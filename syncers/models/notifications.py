import os

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
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


class NotificationRoute(models.Model):
    """Who hears about what, kept in the database (and in the YAML of `sync_apply`): one
    e-mail address or webhook URL, the lowest level it gets, for every client or for one."""

    class Channel(models.TextChoices):
        EMAIL = "email", "e-mail"
        WEBHOOK = "webhook", "webhook"

    class Level(models.TextChoices):
        NOTICE = "notice", "notice and above"
        WARNING = "warning", "warning and above"
        ERROR = "error", "errors only"

    channel = models.CharField("channel", max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    target = models.CharField(
        "address or URL",
        max_length=500,
        blank=True,
        help_text="An e-mail address, or a webhook URL (leave empty and use the variable below when "
        "the URL holds a token, as Slack's do).",
    )
    target_env = models.CharField(
        "URL from environment variable",
        max_length=100,
        blank=True,
        help_text="Name of an environment variable holding the webhook URL; read when sending.",
    )
    min_level = models.CharField(
        "levels", max_length=10, choices=Level.choices, default=Level.WARNING, help_text="What it gets."
    )
    client = models.ForeignKey(
        SyncClient,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_routes",
        verbose_name="client",
        help_text="Empty: every client.",
    )
    enabled = models.BooleanField("enabled", default=True)

    class Meta:
        verbose_name = "notification route"
        ordering = ["channel", "target", "target_env", "pk"]

    def __str__(self) -> str:
        where = self.client.name if self.client else "every client"
        return f"{self.channel} {self.target or '$' + self.target_env} ({self.min_level}+, {where})"

    def clean(self) -> None:
        if bool(self.target) == bool(self.target_env):
            raise ValidationError("Give either an address/URL or an environment variable name, not both.")
        if self.channel == self.Channel.EMAIL:
            if self.target_env:
                raise ValidationError({"target_env": "E-mail routes take an address."})
            try:
                EmailValidator()(self.target)
            except ValidationError:
                raise ValidationError({"target": "Enter a valid e-mail address."}) from None
        elif self.target:
            try:
                URLValidator(schemes=["http", "https"])(self.target)
            except ValidationError:
                raise ValidationError({"target": "Enter an http(s) URL."}) from None
        elif not self.target_env.replace("_", "").isalnum():
            raise ValidationError({"target_env": "An environment variable name, e.g. SLACK_WEBHOOK_URL."})

    def resolve(self) -> str:
        """The address or URL to send to now ('' when its variable is not set)."""
        return self.target or os.environ.get(self.target_env, "")
