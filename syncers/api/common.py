"""What every API view shares: loading a client or run the way the admin does, the admin's
permission checks with a JSON 403, and the audit entry the admin writes."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.request import Request

from syncers.audit import record_change
from syncers.models import SyncClient, SyncRun
from syncers.permissions import allowed_actions, may_see_client, may_see_rows, user_can
from syncers.selectors import client_get

from .serializers import ErrorOut

MAX_ID = 2**63 - 1  # a bigger number in a URL is no id (and would overflow the query)
ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Bad input: `field` names it."),
    401: OpenApiResponse(ErrorOut, description="No, unknown, revoked or expired token."),
    403: OpenApiResponse(ErrorOut, description="The token's user may not do this (the admin's rules)."),
    404: OpenApiResponse(ErrorOut, description="No such object."),
}
CONFLICT = {
    409: OpenApiResponse(ErrorOut, description="Refused in the object's present state: `error` says why.")
}
NOT_ALLOWED = {405: OpenApiResponse(ErrorOut, description="Wrong HTTP method.")}
UNSUPPORTED = {415: OpenApiResponse(ErrorOut, description="Send JSON (Content-Type: application/json).")}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    table = {**ERRORS, **CONFLICT, **NOT_ALLOWED, **UNSUPPORTED}
    return {code: table[code] for code in codes}


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["send a JSON object"]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def refuse(user: Any, what: str) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(f"{user.get_username()} may not {what}")


def load_client(request: Request, ref: str, *actions: str) -> SyncClient:
    """The client named by name or id, if the user may see it and take every one of `actions`
    on it (as the admin's buttons check)."""
    try:
        if len(ref) > 100 or "\x00" in ref or (ref.isdigit() and int(ref) > MAX_ID):
            raise SyncClient.DoesNotExist
        client = client_get(ref=ref)
    except (SyncClient.DoesNotExist, ValueError):
        raise exceptions.NotFound(f"client: no sync client '{ref[:100]}'") from None
    user = request.user
    if not actions and not may_see_client(user, client):
        raise refuse(user, f"see client {client.name}")
    for action in actions:
        if not user_can(user, action, client):
            raise refuse(user, f"{action} client {client.name}")
    return client


def load_run(request: Request, pk: int, action: str | None = None) -> SyncRun:
    run = SyncRun.objects.select_related("client__connection").filter(pk=pk).first() if pk <= MAX_ID else None
    if run is None:
        raise exceptions.NotFound(f"run: no run #{pk}")
    user = request.user
    if action is None and not may_see_rows(user, SyncRun, run.client_id):
        raise refuse(user, f"see runs of {run.client.name}")
    if action is not None and not user_can(user, action, run.client):
        raise refuse(user, f"{action} runs of {run.client.name}")
    return run


def actions_of(request: Request, client: SyncClient) -> list[str]:
    allowed = allowed_actions(request.user, client)
    return [a for a in ("run", "pause", "cancel", "retry", "edit") if a in allowed]


def who(request: Request) -> str:
    return request.user.get_username()


def audit(request: Request, obj: Model, message: str) -> None:
    """The admin's log entry for the same action, under the same user; the token's name is
    added so the history tells the API from the admin."""
    token = getattr(request.auth, "name", None)
    channel = f" (API token '{token}')" if token else " (API)"
    record_change(user=request.user, obj=obj, message=message + channel)
