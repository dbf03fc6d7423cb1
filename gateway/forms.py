"""The connection form: the secret is write-only (a password input never rendered back; blank
keeps the stored one; clearing is an explicit checkbox) and is encrypted before the model's
own validation runs, so that validation can see whether a secret exists."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from .models import Connection
from .units import DurationField, SizeField

NUMBER = {"style": "width: 10em"}  # wide enough for the largest value each field allows


def _default(name: str) -> Any:
    # A form field declared here replaces the model's, so the add form needs its default again.
    return cast("models.Field[Any, Any]", Connection._meta.get_field(name)).default


class ConnectionForm(forms.ModelForm[Connection]):
    connect_timeout = DurationField(
        initial=_default("connect_timeout"),
        label="Connect timeout",
        help_text="How long to wait for the TCP/TLS connection, e.g. 5s or 500ms.",
    )
    read_timeout = DurationField(
        initial=_default("read_timeout"),
        label="Read timeout",
        help_text="How long to wait between bytes of the answer, e.g. 30s or 2m.",
    )
    total_timeout = DurationField(
        initial=_default("total_timeout"),
        label="Total deadline",
        help_text="Wall-clock cap on one request including redirects and the body, so a server that "
        "drips bytes cannot hold a worker, e.g. 2m.",
    )
    max_body_bytes = SizeField(
        initial=_default("max_body_bytes"),
        label="Max body size",
        help_text="Decoded answers larger than this are refused, not loaded, e.g. 50 MB (1 KB = 1024 bytes).",
    )
    secret = forms.CharField(
        label="New secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Token, password, API key or client secret. Write-only: it is never shown again; "
        "leave blank to keep the stored one.",
    )
    clear_secret = forms.BooleanField(
        label="Clear the stored secret",
        required=False,
        help_text="Remove the stored secret (e.g. when switching to no authentication).",
    )

    class Meta:
        model = Connection
        fields = [
            "name",
            "base_url",
            "headers",
            "default_params",
            "auth_kind",
            "auth_name",
            "auth_username",
            "token_url",
            "token_scope",
            "connect_timeout",
            "read_timeout",
            "total_timeout",
            "max_body_bytes",
            "max_retries",
            "retry_budget",
            "rate_limit",
            "rate_burst",
            "allowed_hosts",
            "paused",
            "pause_reason",
            "paused_until",
        ]
        widgets = {
            name: forms.NumberInput(attrs=NUMBER)
            for name in ("max_retries", "retry_budget", "rate_limit", "rate_burst")
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean() returns
        if data.get("paused") and not (data.get("pause_reason") or "").strip():
            raise ValidationError({"pause_reason": "Say why: every client of this connection will show it."})
        new, clear = data.get("secret"), data.get("clear_secret")
        if new and clear:
            raise ValidationError({"clear_secret": "Either enter a new secret or clear it, not both."})
        if clear:
            self.instance.secret_ciphertext = ""
        elif new:
            self.instance.set_secret(new)
        return data


class ConnectionTestForm(forms.Form):
    path = forms.CharField(
        label="Path",
        initial="/",
        max_length=500,
        help_text="Requested once under the base URL, through the connection's full policy.",
    )
