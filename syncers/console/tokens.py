"""API tokens in the admin: create one (the token is shown once, on the page after saving;
only its digest is stored), revoke, see when each was last used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from syncers.api.tokens import api_token_create, api_token_revoke
from syncers.models import ApiToken
from syncers.wording import counted

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups  # the stubs' name for a fields list


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]

    def clean_expires_at(self) -> Any:
        expires = self.cleaned_data.get("expires_at")
        if expires is not None and expires <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "prefix", "user", "token_state", "created_at", "last_used_at", "expires_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return []
        return [
            "user",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "revoked_by",
        ]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> _FieldGroups:
        return (
            ("user", "name", "expires_at") if obj is None else tuple(self.get_readonly_fields(request, obj))
        )

    @admin.display(description="state")
    def token_state(self, obj: ApiToken) -> str:
        return obj.state

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            return  # a token is never edited: revoke it and create another
        data = form.cleaned_data
        token, raw = api_token_create(user=data["user"], name=data["name"], expires_at=data["expires_at"])
        obj.pk, obj.prefix, obj.created_at = token.pk, token.prefix, token.created_at
        obj._state.adding = False
        # The next page (response_add) shows it; it is stored nowhere. An attribute of this
        # request only, which HttpRequest does not declare.
        request._api_token_shown_once = raw  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        raw = getattr(request, "_api_token_shown_once", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"API token '{obj.name}' for {obj.user}",
            "token": raw,
            "original": obj,
        }
        return TemplateResponse(request, "admin/syncers/apitoken/created.html", context)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token, who=request.user.get_username())
            self.log_change(request, token, f"Revoked API token {token.prefix}…")
        self.message_user(request, f"Revoked {counted(queryset.count(), 'token')}.", messages.SUCCESS)
