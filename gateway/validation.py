"""Save-time validation of a connection (Connection.clean): auth fields that fit the auth
kind, no secrets in plain fields, and the SSRF guard on the base and token URLs, so an
operator learns at once that a target is refused rather than at the first sync."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

from .errors import BlockedAddress
from .models import HOST_ENTRY, SECRET_HEADERS
from .ssrf import check_target

if TYPE_CHECKING:
    from django.db.models import Field

    from .models import Connection

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SCALARS = (str, int, float, bool)


def connection_errors(conn: Connection) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = defaultdict(list)
    _check_plain_fields(conn, errors)
    _check_auth(conn, errors)
    if moved := conn.secret_scope_changes():
        errors["secret"].append(
            f"Changing {', '.join(str(cast('Field[Any, Any]', conn._meta.get_field(f)).verbose_name) for f in moved)} sends the stored "
            "secret to a new place: enter the secret again (or clear it)."
        )
    if conn.read_timeout and conn.total_timeout and conn.total_timeout < conn.read_timeout:
        errors["total_timeout"].append("The total deadline must be at least the read timeout.")
    for field in ("base_url", "token_url"):
        url = getattr(conn, field)
        if url and url.startswith(("http://", "https://")) and field not in errors:
            try:
                check_target(url)
            except BlockedAddress as exc:
                errors[field].append(str(exc))
    return dict(errors)


def _check_plain_fields(conn: Connection, errors: dict[str, list[str]]) -> None:
    kind = conn.auth_kind
    if not isinstance(conn.headers, dict):
        errors["headers"].append("Headers must be a JSON object.")
    else:
        secret_names = set(SECRET_HEADERS)
        if kind == conn.AuthKind.API_KEY_HEADER:
            secret_names.add(conn.auth_param_name.lower())
        for name, value in conn.headers.items():
            if not _HEADER_NAME.match(name) or not isinstance(value, str):
                errors["headers"].append(f"{name!r}: header names must be tokens and values strings.")
            elif name.lower() in secret_names:
                errors["headers"].append(f"{name}: credentials belong in the authentication fields.")
    if not isinstance(conn.default_params, dict):
        errors["default_params"].append("Default query parameters must be a JSON object.")
    else:
        if any(not isinstance(v, _SCALARS) for v in conn.default_params.values()):
            errors["default_params"].append("Values must be strings, numbers or booleans.")
        if kind == conn.AuthKind.API_KEY_QUERY and conn.auth_param_name in conn.default_params:
            errors["default_params"].append("The API key parameter is set from the secret, not here.")
    bad_hosts = [e for e in re.split(r"[\s,]+", conn.allowed_hosts or "") if e and not HOST_ENTRY.match(e)]
    if bad_hosts:
        errors["allowed_hosts"].append(f"Not a host or host:port: {', '.join(bad_hosts)}")


def _check_auth(conn: Connection, errors: dict[str, list[str]]) -> None:
    kind, kinds = conn.auth_kind, conn.AuthKind
    if kind == kinds.BASIC and not conn.auth_username:
        errors["auth_username"].append("HTTP basic needs a username.")
    if kind == kinds.API_KEY_HEADER and not _HEADER_NAME.match(conn.auth_param_name):
        errors["auth_name"].append("Not a valid header name.")
    if kind == kinds.OAUTH2:
        if not conn.token_url:
            errors["token_url"].append("OAuth2 client credentials need a token URL.")
        if not conn.auth_username:
            errors["auth_username"].append("OAuth2 client credentials need a client id.")
    if kind != kinds.NONE and not conn.has_secret:
        errors["secret"].append("This kind of authentication needs a secret.")
