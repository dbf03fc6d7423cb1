"""Admin forms: the handler is picked from the registry, config errors show at the field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.helpers import AdminForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from gateway.units import DurationField, DurationListField
from syncers.console.config_widget import SourceConfigWidget
from syncers.models import SyncClient
from syncers.registry import handler_choices


class EmailListField(forms.CharField):
    """E-mail addresses, one per line ↔ a list; a bad line is named by its number."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "cols": 40}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(v) for v in value) if isinstance(value, list) else value

    # A CharField whose value is the list of lines, not the text: the list goes to clean().
    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        lines = [line.strip() for line in (super().to_python(value) or "").splitlines()]
        emails = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                validate_email(line)
            except ValidationError:
                raise ValidationError(f"Line {number}: {line!r} is not an e-mail address.") from None
            emails.append(line)
        return emails


class SyncClientForm(forms.ModelForm):
    handler = forms.ChoiceField(
        choices=handler_choices,
        initial=SyncClient._meta.get_field("handler").default,  # the generic REST handler
        help_text=SyncClient._meta.get_field("handler").help_text,
    )
    pause_durations = DurationListField(
        label="Pause durations",
        required=False,
        help_text="How long to pause at error level 1, 2, 3…, comma-separated, e.g. 1m, 5m, 1h; "
        "empty uses SYNC_PAUSE_DURATIONS.",
    )
    max_duration = DurationField(
        label="Max duration",
        whole=True,
        required=False,
        help_text="A run taking longer sends a warning, e.g. 30m or 2h; empty: no warning.",
    )
    notify_emails = EmailListField(
        label="Notify e-mails",
        required=False,
        help_text="Extra recipients, one e-mail address per line; they get warnings and errors.",
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


def admin_form(form: forms.Form) -> AdminForm:
    """`form` wrapped for admin/syncers/includes/form_fieldsets.html: its `fieldsets` (or one
    untitled fieldset) drawn like the admin's own change forms."""
    fieldsets = getattr(form, "fieldsets", None) or [(None, {"fields": list(form.fields)})]
    # AdminForm reads only a form's fields; the stubs ask for a ModelForm.
    return AdminForm(form, fieldsets, {})  # type: ignore[arg-type]


class PauseForm(forms.Form):
    """Asked before pausing: a reason everyone will see, and an optional end."""

    fieldsets = [
        (None, {"fields": ["reason"]}),
        ("How long", {"fields": ["hours", "disable"]}),
    ]

    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"class": "vTextField", "size": 60}),
        help_text="Shown in the admin, in sync_status and in notifications.",
    )
    hours = forms.FloatField(
        label="Resume after (hours)",
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
