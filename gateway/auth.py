"""Credentials on requests: bearer, HTTP basic, API key in a header or the query, and OAuth2
client credentials (token fetched once, cached until shortly before it expires, refreshed
once after a 401). The secret is decrypted only here, at request time, and is never logged.

Cached OAuth tokens live in Django's default cache (Redis when REDIS_URL is set, shared by
every worker; otherwise process memory), encrypted like the secret they were bought with."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from django.core.cache import cache
from django.db import connections

from . import crypto
from .errors import AuthError, PayloadError, PermanentError
from .models import SECRET_HEADERS, Connection
from .payload import GatewayResponse

log = logging.getLogger(__name__)

Kind = Connection.AuthKind
# post_form(url, form, (client_id, secret)) -> response; the session provides it.
TokenFetcher = Callable[[str, dict[str, str], tuple[str, str]], GatewayResponse]


class TokenRefused(AuthError):
    """The token endpoint refused the client credentials: a new token will not help."""


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Authenticator:
    """One per session; applies the connection's credentials to a request's headers/params."""

    def __init__(self, connection: Connection, fetch_token: TokenFetcher) -> None:
        self.connection = connection
        self.kind = connection.auth_kind
        self._fetch_token = fetch_token
        self._token: str | None = None
        self._expires = 0.0

    @property
    def secret_param(self) -> str | None:
        """The query parameter that carries the secret (stripped off-origin, redacted in URLs)."""
        return self.connection.auth_param_name if self.kind == Kind.API_KEY_QUERY else None

    @property
    def secret_headers(self) -> frozenset[str]:
        extra = {self.connection.auth_param_name.lower()} if self.kind == Kind.API_KEY_HEADER else set()
        return SECRET_HEADERS | extra

    def prepare(self) -> None:
        """Make sure an OAuth2 token is at hand, so `apply` never needs the network."""
        if self.kind == Kind.OAUTH2 and not self._token_valid():
            self._token, self._expires = self._cached_token() or self._new_token()

    def apply(self, headers: MutableMapping[str, str], params: MutableMapping[str, Any]) -> None:
        conn = self.connection
        if self.kind == Kind.NONE:
            return
        if self.kind == Kind.OAUTH2:
            if not self._token:  # prepare() runs before each try; this is only a fallback
                self.prepare()
            headers["Authorization"] = f"Bearer {self._token}"
            return
        secret = conn.reveal_secret()
        if self.kind == Kind.BEARER:
            headers["Authorization"] = f"Bearer {secret}"
        elif self.kind == Kind.BASIC:
            headers["Authorization"] = basic_header(conn.auth_username, secret)
        elif self.kind == Kind.API_KEY_HEADER:
            headers[conn.auth_param_name] = secret
        elif self.kind == Kind.API_KEY_QUERY:
            params[conn.auth_param_name] = secret

    def refresh(self) -> bool:
        """After a 401: forget the token; True when a new one may help (OAuth2 only)."""
        if self.kind != Kind.OAUTH2:
            return False
        self._token, self._expires = None, 0.0
        self._cache_call("delete", self._cache_key())
        return True

    # --- OAuth2 -------------------------------------------------------------------------
    def _token_valid(self) -> bool:
        return bool(self._token) and self._expires > time.time()

    def _cache_key(self) -> str:
        # Changes with the credentials (and key rotation), so a new secret never reuses a token.
        conn = self.connection
        material = "|".join(
            [str(conn.pk), conn.token_url, conn.auth_username, conn.token_scope, conn.secret_ciphertext]
        )
        database = connections["default"].settings_dict["NAME"]
        return f"xcoresite:{database}:gateway:oauth:{hashlib.sha256(material.encode()).hexdigest()[:32]}"

    def _cache_call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(cache, method)(*args)
        except Exception as exc:  # a cache outage costs a token fetch, nothing more
            log.warning("gateway %s: token cache unavailable (%s)", self.connection, type(exc).__name__)
            return None

    def _cached_token(self) -> tuple[str, float] | None:
        stored = self._cache_call("get", self._cache_key())
        if not stored:
            return None
        try:
            value = json.loads(crypto.decrypt(stored))
        except (crypto.InvalidToken, ValueError):
            return None
        if value["e"] <= time.time():
            return None
        return value["t"], value["e"]

    def _new_token(self) -> tuple[str, float]:
        conn = self.connection
        form = {"grant_type": "client_credentials"}
        if conn.token_scope:
            form["scope"] = conn.token_scope
        try:
            body = self._fetch_token(conn.token_url, form, (conn.auth_username, conn.reveal_secret())).json
        except (AuthError, PermanentError) as exc:
            if exc.status in (400, 401, 403):  # RFC 6749 5.2: invalid_client and friends
                raise TokenRefused(
                    f"token endpoint refused the client credentials (HTTP {exc.status})", status=exc.status
                ) from None
            raise
        token, lifetime = _token_from(body)
        # Renew shortly before expiry, so no request goes out with a token about to lapse.
        margin = min(60.0, lifetime * 0.1)
        expires = time.time() + lifetime - margin
        self._cache_call(
            "set",
            self._cache_key(),
            crypto.encrypt(json.dumps({"t": token, "e": expires})),
            max(1, int(lifetime - margin)),
        )
        log.info("gateway %s: fetched an OAuth2 token valid for %.0fs", conn, lifetime)
        return token, expires


def _token_from(body: Any) -> tuple[str, float]:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        raise PayloadError("token endpoint answer has no access_token")
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise PayloadError("token endpoint issued a token that is not a bearer token")
    lifetime = body.get("expires_in", 3600)
    if isinstance(lifetime, str) and lifetime.isdigit():
        lifetime = int(lifetime)
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        raise PayloadError("token endpoint answer has an invalid expires_in")
    return body["access_token"], float(lifetime)
