from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from .forms import ConnectionForm, ConnectionTestForm
from .models import Connection
from .services import ConnectionTestResult, connection_test


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin[Connection]):
    form = ConnectionForm
    list_display = ["name", "base_url", "auth_kind", "rate_limit", "total_timeout", "max_retries", "paused"]
    list_filter = ["auth_kind"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["secret_state"]
    actions = ["test_connections"]
    fieldsets = [
        (None, {"fields": ["name", "base_url", "headers", "default_params"]}),
        (
            "Authentication",
            {
                "fields": [
                    "auth_kind",
                    "auth_name",
                    "auth_username",
                    "token_url",
                    "token_scope",
                    "secret_state",
                    "secret",
                    "clear_secret",
                ]
            },
        ),
        (
            "Network policy",
            {
                "fields": [
                    "connect_timeout",
                    "read_timeout",
                    "total_timeout",
                    "max_body_bytes",
                    "max_retries",
                    "retry_budget",
                    "rate_limit",
                    "rate_burst",
                    "allowed_hosts",
                ]
            },
        ),
        ("Pause (the API is down for everyone)", {"fields": ["paused", "pause_reason", "paused_until"]}),
    ]

    @admin.display(description="stored secret")
    def secret_state(self, obj: Connection) -> str:
        return "set (encrypted, write-only)" if obj.has_secret else "none"

    # The secret must not show up in Django's error reports of a failed POST either.
    @method_decorator(sensitive_post_parameters("secret"))
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(request, *args, **kwargs)

    def get_urls(self) -> list[URLPattern]:
        test = path(
            "<path:object_id>/test/",
            self.admin_site.admin_view(self.test_view),
            name="gateway_connection_test",
        )
        return [test, *super().get_urls()]

    @admin.action(description="Test connection (one GET of /)", permissions=["change"])
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset[:20]:
            self._report(request, connection, connection_test(connection=connection))

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET shows a path form; POST makes one request and reports it on the change page."""
        connection = self.get_object(request, unquote(object_id))
        if connection is None:
            raise Http404("No such connection.")
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        form = ConnectionTestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._report(
                request, connection, connection_test(connection=connection, path=form.cleaned_data["path"])
            )
            return redirect(reverse("admin:gateway_connection_change", args=[connection.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test connection {connection}",
            "opts": self.opts,
            "original": connection,
            "form": form,
        }
        return TemplateResponse(request, "admin/gateway/connection/test_connection.html", context)

    def _report(self, request: HttpRequest, connection: Connection, result: ConnectionTestResult) -> None:
        level = (
            messages.SUCCESS if result.ok else (messages.WARNING if not result.error_kind else messages.ERROR)
        )
        self.message_user(request, f"Tested {connection}: {result}", level)
