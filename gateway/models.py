from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models


def validate_base_url(value: str) -> None:
    URLValidator(schemes=["http", "https"])(value)
    if "?" in value or "#" in value:
        raise ValidationError("The base URL may not carry a query string or fragment.")


class Connection(models.Model):
    """An outgoing HTTP connection: where an API lives and the network policy for reaching it.
    Sync clients name a connection; only the gateway turns it into requests."""

    name = models.SlugField(
        "name",
        max_length=100,
        unique=True,
        help_text="Short unique name, e.g. 'shop-api'.",
    )
    base_url = models.CharField(
        "base URL",
        max_length=500,
        validators=[validate_base_url],
        help_text="Scheme, host and optional path prefix, e.g. https://api.example.com/v2",
    )
    headers = models.JSONField(
        "default headers",
        default=dict,
        blank=True,
        help_text='Sent with every request, e.g. {"Accept": "application/json"}. No secrets here.',
    )
    connect_timeout = models.FloatField(
        "connect timeout (s)",
        default=5.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(120)],
        help_text="Seconds to wait for the TCP/TLS connection.",
    )
    read_timeout = models.FloatField(
        "read timeout (s)",
        default=30.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(600)],
        help_text="Seconds to wait between bytes of the answer.",
    )
    total_timeout = models.FloatField(
        "total deadline (s)",
        default=120.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(3600)],
        help_text="Wall-clock cap on one request including the body, so a server that drips "
        "bytes cannot hold a worker.",
    )
    max_body_bytes = models.PositiveIntegerField(
        "max body size (bytes)",
        default=50 * 1024 * 1024,
        validators=[MinValueValidator(1024)],
        help_text="Decoded answers larger than this are refused, not loaded.",
    )
    max_retries = models.PositiveSmallIntegerField(
        "max retries",
        default=3,
        validators=[MaxValueValidator(10)],
        help_text="Retries of an idempotent request after a connect error, 429, 502, 503 or 504.",
    )
    created_at = models.DateTimeField("created", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        verbose_name = "connection"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.headers is not None and not isinstance(self.headers, dict):
            raise ValidationError({"headers": "Headers must be a JSON object."})
        if self.read_timeout and self.total_timeout and self.total_timeout < self.read_timeout:
            raise ValidationError({"total_timeout": "The total deadline must be at least the read timeout."})
