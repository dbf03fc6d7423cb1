"""List cells for long text (errors, external ids, payloads): cut short to a fixed width so a
change list never scrolls sideways, with the whole text on hover (title) and on the detail page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator


def clipped(text: str, chars: int = 80) -> SafeString:
    """`text` cut to `chars` characters (and by CSS to the column), the full text as its title."""
    text = text or ""
    return format_html('<span class="sync-clip" title="{}">{}</span>', text, Truncator(text).chars(chars))


def clipped_column(field: str, label: str, chars: int = 80) -> Callable[[Any, Any], SafeString]:
    """A list_display column showing the model field `field` clipped (see clipped)."""

    @admin.display(description=label, ordering=field)
    def column(self: admin.ModelAdmin, obj: Any) -> SafeString:
        return clipped(str(getattr(obj, field) or ""), chars)

    return column
