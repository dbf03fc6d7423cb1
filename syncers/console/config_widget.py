"""The source config as a form: each handler's declared options (syncers.handler_options)
drawn as inputs — pagination a select that shows only its style's options, numbers as number
inputs, mappings as name/value rows — with the raw JSON behind an "Edit as JSON" toggle.

The inputs write the JSON textarea the form posts, so the server sees exactly one value, holding
only the options the operator set; without JavaScript the textarea is the editor."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from syncers.handler_options import form_schema
from syncers.registry import all_handlers


class SourceConfigWidget(forms.Textarea):
    template_name = "syncers/widgets/source_config.html"  # app dir: the form renderer looks there

    def __init__(self, handler_field: str = "handler", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"rows": 8, "cols": 60, "class": "vLargeTextField", **(attrs or {})})
        self.handler_field = handler_field

    def format_value(self, value: Any) -> str | None:
        """Pretty JSON when the value is JSON (a bound form's invalid text is kept as typed)."""
        text = super().format_value(value)
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False) if text else text
        except ValueError:
            return text

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["schemas"] = {
            handler.name: form_schema(handler.options, handler.default_config)
            for handler in all_handlers()
            if handler.options is not None
        }
        context["handler_field"] = self.handler_field
        return context
