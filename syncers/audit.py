"""The admin log entry an operator action leaves on its object (the object's History page):
written by the admin (ModelAdmin.log_change), the commands and the API alike."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.db.models import Model


def record_change(*, user: Any, obj: Model, message: str) -> None:
    """What ModelAdmin.log_change writes: a CHANGE entry for `obj` by `user`."""
    LogEntry.objects.log_actions(
        user_id=user.pk, queryset=[obj], action_flag=CHANGE, change_message=message, single_object=True
    )
