"""Who is calling: `Authorization: Bearer <token>` (or the admin's session, for the docs page),
and the admin's own gate: an active staff account."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from .tokens import api_token_check


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: give 'Bearer <token>' with one token")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Authorization: the token is not ASCII") from None
        token = api_token_check(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Authorization: unknown, revoked or expired token")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("Authorization: the token's user is inactive")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword  # makes refusals 401 with WWW-Authenticate: Bearer


class StaffOnly(permissions.BasePermission):
    """The admin lets in active staff only; so does the API. What each may do is then checked
    per action with syncers.permissions, as the admin does."""

    message = "this account may not use the admin (not staff), so it may not use the API either"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "syncers.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A token from `sync_api_token create`."}
