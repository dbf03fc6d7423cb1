"""Template tags of the operator console: the stale-beat banner every admin page shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from syncers.console.dashboard import beat_warning
from syncers.wording import ago as wording_ago

register = template.Library()


@register.simple_tag(takes_context=True)
def sync_beat_banner(context: dict[str, Any]) -> SafeString | str:
    """Staff see a banner when beat's heartbeat is stale (one small query per page)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return ""
    warning = beat_warning()
    if not warning:
        return ""
    return format_html('<ul class="messagelist"><li class="warning" id="beat-banner">{}</li></ul>', warning)


@register.filter
def ago(moment: datetime | None) -> str:
    """{{ run.queued_at|ago }} → "just now", "5 minutes ago" (wording.ago); "" for no time."""
    return wording_ago(moment) if moment else ""
