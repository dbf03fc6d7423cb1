"""Every refusal is JSON: {"error": "<field>: <what is wrong>", "field": "<field>" or null,
"fields": {field: [messages]}} — so a script can tell which input to fix."""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class Conflict(exceptions.APIException):
    """The request is well formed but the object's state refuses it (paused client, ended run,
    a run in progress...)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _first(messages: Any) -> str:
    while isinstance(messages, (list, dict)) and messages:
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return str(messages)


def _field(detail: Any, prefix: str = "") -> str | None:
    """The dotted path of the first field a ValidationError names ('ids.0'), or None."""
    if isinstance(detail, dict) and detail:
        key = next(iter(detail))
        if key == "non_field_errors":
            return None
        inner = _field(detail[key], f"{prefix}{key}.")
        return inner or f"{prefix}{key}"
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)) and item:
                return _field(item, f"{prefix}{index}.") or f"{prefix}{index}"
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, (OperationalError, InterfaceError)):  # no database: tokens cannot be checked
        return Response(
            {"error": f"database unavailable: {type(exc).__name__}", "field": None},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = getattr(exc, "detail", None)
    if isinstance(exc, exceptions.ValidationError):
        field = _field(detail)
        message = _first(detail)
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = {
            "error": f"{field}: {message}" if field else message,
            "field": field,
            "fields": fields,
        }
    else:
        response.data = {"error": _first(detail) if detail is not None else str(exc), "field": None}
        if reason := getattr(exc, "reason", None):
            response.data["reason"] = reason
    return response
