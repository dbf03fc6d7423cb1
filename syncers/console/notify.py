"""Notification routes (who hears about what) and the record of what was sent."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from syncers.models import Notification, NotificationRoute
from syncers.wording import event_label


@admin.register(NotificationRoute)
class NotificationRouteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "channel", "min_level", "client", "enabled"]
    list_filter = ["channel", "min_level", "enabled", "client"]
    search_fields = ["target", "target_env", "client__name"]
    autocomplete_fields = ["client"]
    fields = ["channel", "target", "target_env", "min_level", "client", "enabled"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Written by the notifier only; here it is read."""

    list_display = ["created_at", "client", "event_column", "level", "channel", "recipient", "delivered"]
    list_filter = ["delivered", "level", "channel", "event"]
    search_fields = ["client__name", "recipient", "subject"]
    list_select_related = ["client"]
    date_hierarchy = "created_at"

    @admin.display(description="event", ordering="event")
    def event_column(self, obj: Notification) -> str:
        return event_label(obj.event)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False
