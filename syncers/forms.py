"""Admin forms: the handler is picked from the registry, config errors show at the field."""

from __future__ import annotations

from django import forms

from .models import SyncClient
from .registry import handler_choices


class SyncClientForm(forms.ModelForm):
    handler = forms.ChoiceField(
        choices=handler_choices, help_text=SyncClient._meta.get_field("handler").help_text
    )

    class Meta:
        model = SyncClient
        fields = [
            "name",
            "description",
            "connection",
            "handler",
            "config",
            "batch_size",
            "queue",
            "state",
            "pause_reason",
        ]
