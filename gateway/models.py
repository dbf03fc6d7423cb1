from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.utils import timezone

from . import crypto
from .errors import AuthError, BlockedAddress
from .fields import EncryptedTextField
from .ssrf import check_target

if TYPE_CHECKING:
    from django.db.models import Field

HOST_ENTRY = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def validate_base_url(value: str) -> None:
    URLValidator(schemes=["http", "https"])(value)
    if "?" in value or "#" in value:
        raise ValidationError("The base URL may not carry a query string or fragment.")
    if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
        raise ValidationError("Put credentials in the authentication fields, not in the URL.")


class Connection(models.Model):
    """An outgoing HTTP connection: where an API lives and the network policy for reaching it.
    Sync clients name a connection; only the gateway turns it into requests."""

    class AuthKind(models.TextChoices):
        NONE = "none", "None"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "HTTP basic"
        API_KEY_HEADER = "api_key_header", "API key in a header"
        API_KEY_QUERY = "api_key_query", "API key in a query parameter"
        OAUTH2 = "oauth2_client_credentials", "OAuth2 client credentials"

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
    default_params = models.JSONField(
        "default query parameters",
        default=dict,
        blank=True,
        help_text='Added to every request unless the caller sets them, e.g. {"locale": "en"}. No secrets.',
    )
    auth_kind = models.CharField(
        "authentication",
        max_length=32,
        choices=AuthKind.choices,
        default=AuthKind.NONE,
        help_text="How requests prove who they are. The secret is stored encrypted.",
    )
    auth_name = models.CharField(
        "header / parameter name",
        max_length=100,
        blank=True,
        help_text="API key header name (default X-API-Key) or query parameter name (default api_key).",
    )
    auth_username = models.CharField(
        "username / client id",
        max_length=200,
        blank=True,
        help_text="HTTP basic username, or the OAuth2 client id.",
    )
    token_url = models.CharField(
        "OAuth2 token URL",
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where client-credentials tokens are fetched (OAuth2 only).",
    )
    token_scope = models.CharField(
        "OAuth2 scope",
        max_length=500,
        blank=True,
        help_text="Space-separated scopes to request (OAuth2 only; empty for the server's default).",
    )
    secret_ciphertext = EncryptedTextField(
        "secret (encrypted)",
        blank=True,
        default="",
        editable=False,
        help_text="Token, password, API key or client secret as a Fernet token under "
        "GATEWAY_ENCRYPTION_KEYS. Never shown; set it in the form's secret field.",
    )
    allowed_hosts = models.TextField(
        "other allowed hosts",
        blank=True,
        help_text="Hosts besides the base URL's that absolute next-page URLs may point to, one per "
        "line ('host' or 'host:port'). They get the credentials too. Private addresses stay "
        "refused unless GATEWAY_ALLOWED_HOSTS also allows them.",
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
        help_text="Wall-clock cap on one request including redirects and the body, so a server "
        "that drips bytes cannot hold a worker.",
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
    retry_budget = models.PositiveIntegerField(
        "retry budget",
        default=20,
        validators=[MaxValueValidator(10_000)],
        help_text="Retries one session (one sync run) may spend across all its requests; once spent, "
        "failures surface at once so the client pauses instead of hammering the API.",
    )
    rate_limit = models.FloatField(
        "rate limit (requests/s)",
        default=0.0,
        validators=[MinValueValidator(0), MaxValueValidator(10_000)],
        help_text="Requests per second shared by every worker using this connection; 0 for none.",
    )
    rate_burst = models.PositiveIntegerField(
        "rate burst",
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Requests that may go at once after a quiet spell (token bucket size).",
    )
    paused = models.BooleanField(
        "paused",
        default=False,
        help_text="The API is down for everyone: every sync client using this connection is paused.",
    )
    pause_reason = models.CharField("pause reason", max_length=500, blank=True, help_text="Why it is paused.")
    paused_until = models.DateTimeField(
        "paused until",
        null=True,
        blank=True,
        help_text="When the pause ends by itself; empty: until resumed.",
    )
    created_at = models.DateTimeField("created", auto_now_add=True, help_text="When it was added.")
    updated_at = models.DateTimeField("updated", auto_now=True, help_text="Last change.")

    class Meta:
        verbose_name = "connection"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_paused(self) -> bool:
        return self.paused and (self.paused_until is None or self.paused_until > timezone.now())

    # --- The secret: write-only from the outside ------------------------------------------
    _stored_scope: dict[str, Any]  # set by from_db only; absent on a new instance

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Connection:
        instance = super().from_db(db, field_names, values, **kwargs)
        # Where the stored secret goes, as loaded: moving it needs the secret entered again.
        instance._stored_scope = {
            name: instance.__dict__[name]
            for name in (*SECRET_SCOPE_FIELDS, "secret_ciphertext")
            if name in instance.__dict__
        }
        return instance

    def secret_scope_changes(self) -> list[str]:
        """Fields that say where the secret is sent, changed since loading while the stored
        secret was kept: sending it there needs someone who knows it."""
        stored = getattr(self, "_stored_scope", None)
        if not stored or not self.secret_ciphertext:
            return []
        if self.secret_ciphertext != stored.get("secret_ciphertext"):
            return []  # entered again (a new token, even for the same secret)
        return [
            name for name in SECRET_SCOPE_FIELDS if name in stored and getattr(self, name) != stored[name]
        ]

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext)

    def set_secret(self, plaintext: str) -> None:
        self.secret_ciphertext = crypto.encrypt(plaintext) if plaintext else ""

    def reveal_secret(self) -> str:
        """Only the gateway's auth calls this, at request time."""
        if not self.secret_ciphertext:
            raise AuthError(f"connection {self.name} has no secret stored")
        try:
            return crypto.decrypt(self.secret_ciphertext)
        except crypto.InvalidToken:
            raise AuthError(
                f"the secret of connection {self.name} cannot be decrypted with GATEWAY_ENCRYPTION_KEYS"
            ) from None

    # --- Derived settings ------------------------------------------------------------------
    @property
    def auth_param_name(self) -> str:
        default = "api_key" if self.auth_kind == self.AuthKind.API_KEY_QUERY else "X-API-Key"
        return self.auth_name.strip() or default

    def extra_hosts(self) -> list[tuple[str, int | None]]:
        """The allowed hosts as (lower-case host, port or None for any port)."""
        hosts = []
        for entry in filter(None, re.split(r"[\s,]+", self.allowed_hosts or "")):
            if match := HOST_ENTRY.match(entry):
                host, port = match.group(1).strip("[]").lower().rstrip("."), match.group(2)
                hosts.append((host, int(port[1:]) if port else None))
        return hosts

    def clean(self) -> None:
        errors = connection_errors(self)
        if errors:
            raise ValidationError(errors)


# Changing any of these sends the stored secret somewhere else.
SECRET_SCOPE_FIELDS = ("base_url", "token_url", "allowed_hosts", "auth_kind")


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SCALARS = (str, int, float, bool)


# Save-time validation of a connection (Connection.clean) lives with the model it checks: auth
# fields that fit the auth kind, no secrets in plain fields, and the SSRF guard on the base and
# token URLs, so an operator learns at once that a target is refused rather than at the first sync.
def connection_errors(conn: Connection) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = defaultdict(list)
    _check_plain_fields(conn, errors)
    _check_auth(conn, errors)
    if moved := conn.secret_scope_changes():
        errors["secret"].append(
            f"Changing {', '.join(str(cast('Field[Any, Any]', conn._meta.get_field(f)).verbose_name) for f in moved)} sends the stored "
            "secret to a new place: enter the secret again (or clear it)."
        )
    if conn.read_timeout and conn.total_timeout and conn.total_timeout < conn.read_timeout:
        errors["total_timeout"].append("The total deadline must be at least the read timeout.")
    for field in ("base_url", "token_url"):
        url = getattr(conn, field)
        if url and url.startswith(("http://", "https://")) and field not in errors:
            try:
                check_target(url)
            except BlockedAddress as exc:
                errors[field].append(str(exc))
    return dict(errors)


def _check_plain_fields(conn: Connection, errors: dict[str, list[str]]) -> None:
    kind = conn.auth_kind
    if not isinstance(conn.headers, dict):
        errors["headers"].append("Headers must be a JSON object.")
    else:
        secret_names = set(SECRET_HEADERS)
        if kind == conn.AuthKind.API_KEY_HEADER:
            secret_names.add(conn.auth_param_name.lower())
        for name, value in conn.headers.items():
            if not _HEADER_NAME.match(name) or not isinstance(value, str):
                errors["headers"].append(f"{name!r}: header names must be tokens and values strings.")
            elif name.lower() in secret_names:
                errors["headers"].append(f"{name}: credentials belong in the authentication fields.")
    if not isinstance(conn.default_params, dict):
        errors["default_params"].append("Default query parameters must be a JSON object.")
    else:
        if any(not isinstance(v, _SCALARS) for v in conn.default_params.values()):
            errors["default_params"].append("Values must be strings, numbers or booleans.")
        if kind == conn.AuthKind.API_KEY_QUERY and conn.auth_param_name in conn.default_params:
            errors["default_params"].append("The API key parameter is set from the secret, not here.")
    bad_hosts = [e for e in re.split(r"[\s,]+", conn.allowed_hosts or "") if e and not HOST_ENTRY.match(e)]
    if bad_hosts:
        errors["allowed_hosts"].append(f"Not a host or host:port: {', '.join(bad_hosts)}")


def _check_auth(conn: Connection, errors: dict[str, list[str]]) -> None:
    kind, kinds = conn.auth_kind, conn.AuthKind
    if kind == kinds.BASIC and not conn.auth_username:
        errors["auth_username"].append("HTTP basic needs a username.")
    if kind == kinds.API_KEY_HEADER and not _HEADER_NAME.match(conn.auth_param_name):
        errors["auth_name"].append("Not a valid header name.")
    if kind == kinds.OAUTH2:
        if not conn.token_url:
            errors["token_url"].append("OAuth2 client credentials need a token URL.")
        if not conn.auth_username:
            errors["auth_username"].append("OAuth2 client credentials need a client id.")
    if kind != kinds.NONE and not conn.has_secret:
        errors["secret"].append("This kind of authentication needs a secret.")


class RateBucket(models.Model):
    """Shared rate-limit state when there is no Redis: one row per limited connection, updated
    with one atomic statement per request (GCRA: the next free slot moves by 1/rate)."""

    name = models.CharField(
        "name",
        max_length=200,
        primary_key=True,
        help_text="Which limit this row holds, e.g. 'connection:3'.",
    )
    tat = models.FloatField(
        "next free slot",
        default=0.0,
        help_text="Unix time at which the bucket is full again (theoretical arrival time).",
    )

    class Meta:
        verbose_name = "rate-limit bucket"

    def __str__(self) -> str:
        return self.name
