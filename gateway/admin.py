from django.contrib import admin

from .models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "base_url",
        "connect_timeout",
        "read_timeout",
        "total_timeout",
        "max_retries",
    ]
    search_fields = ["name", "base_url"]
    fieldsets = [
        (None, {"fields": ["name", "base_url", "headers"]}),
        (
            "Network policy",
            {
                "fields": [
                    "connect_timeout",
                    "read_timeout",
                    "total_timeout",
                    "max_body_bytes",
                    "max_retries",
                ]
            },
        ),
    ]
