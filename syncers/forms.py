"""Admin forms: the handler is picked from the registry, config errors show at the field."""

from __future__ import annotations

from typing import Any

from django import forms

from .config_widget import SourceConfigWidget
from .models import SyncClient
from .registry import handler_choices


class SyncClientForm(forms.ModelForm):
    handler = forms.ChoiceField(
        choices=handler_choices,
        initial=SyncClient._meta.get_field("handler").default,  # the generic REST handler
        help_text=SyncClient._meta.get_field("handler").help_text,
    )

    class Meta:
        model = SyncClient
        fields = [
            "name",
            "description",
            "connection",
            "handler",
            "config",
            "destination",
            "batch_size",
            "queue",
            "pause_durations",
            "max_failures",
            "max_duration",
            "notify_emails",
        ]
        widgets = {"config": SourceConfigWidget()}


class PauseForm(forms.Form):
    """Asked before pausing: a reason everyone will see, and an optional end."""

    reason = forms.CharField(
        max_length=500, help_text="Shown in the admin, in sync_status and in notifications."
    )
    hours = forms.FloatField(
        required=False,
        min_value=0.01,
        help_text="Resume by itself after this many hours; empty: until resumed.",
    )
    disable = forms.BooleanField(
        required=False,
        help_text="Disable instead: records pushed to the client's webhook are refused too, until resumed.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("disable") and cleaned.get("hours"):
            raise forms.ValidationError(
                "A disabled client stays disabled until resumed: leave the hours empty."
            )
        return cleaned
