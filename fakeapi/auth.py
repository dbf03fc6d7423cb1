"""Credentials the fake API demands on /auth/<kind>/..., and an OAuth2 token endpoint that
issues short-lived tokens, so every gateway auth kind can be tested over real HTTP."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

KINDS = ("bearer", "basic", "header", "query", "oauth")

DEFAULTS: dict[str, Any] = {
    "bearer": "fake-bearer-token",
    "username": "fake-user",
    "password": "fake-pass",
    "api_key": "fake-api-key",
    "api_key_header": "X-API-Key",
    "api_key_param": "api_key",
    "client_id": "fake-client",
    "client_secret": "fake-client-secret",
    "token_ttl": 300.0,
    "accept_tokens": True,  # False: every OAuth token is refused, as if revoked at once
}


class AuthState:
    """Expected credentials plus issued OAuth tokens (token -> expiry); a lock guards both."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = dict(DEFAULTS)
            self.tokens: dict[str, float] = {}
            self.token_requests = 0
            self.rejected = 0

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Change expected credentials; {"revoke": true} expires every issued token now."""
        unknown = set(body) - set(DEFAULTS) - {"revoke"}
        if unknown:
            raise ValueError(f"unknown auth option(s): {sorted(unknown)}")
        with self.lock:
            self.config.update({k: v for k, v in body.items() if k in DEFAULTS})
            if body.get("revoke"):
                self.tokens.clear()
            return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.config,
            "token_requests": self.token_requests,
            "live_tokens": sum(1 for exp in self.tokens.values() if exp > time.time()),
            "rejected": self.rejected,
        }

    def check(self, kind: str, headers: Message, query: str) -> bool:
        """True when the request carries the credential of `kind`."""
        cfg = self.config
        auth = headers.get("Authorization", "")
        if kind == "bearer":
            ok = auth == f"Bearer {cfg['bearer']}"
        elif kind == "basic":
            ok = _basic(auth) == (cfg["username"], cfg["password"])
        elif kind == "header":
            ok = headers.get(cfg["api_key_header"]) == cfg["api_key"]
        elif kind == "query":
            ok = parse_qs(query).get(cfg["api_key_param"]) == [cfg["api_key"]]
        else:
            token = auth.removeprefix("Bearer ")
            with self.lock:
                live = self.tokens.get(token, 0) > time.time()
                ok = auth.startswith("Bearer ") and live and cfg["accept_tokens"]
        if not ok:
            with self.lock:
                self.rejected += 1
        return ok

    def issue_token(self, headers: Message, raw: bytes) -> tuple[int, dict[str, Any]]:
        """RFC 6749 client credentials grant with HTTP Basic client authentication."""
        form = parse_qs(raw.decode(errors="replace"))
        with self.lock:
            self.token_requests += 1
            cfg = dict(self.config)
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type"}
        if _basic(headers.get("Authorization", "")) != (cfg["client_id"], cfg["client_secret"]):
            return 401, {"error": "invalid_client"}
        token = "tok-" + secrets.token_hex(8)
        ttl = float(cfg["token_ttl"])
        with self.lock:
            self.tokens[token] = time.time() + ttl
        scope = form.get("scope", [""])[-1]
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": scope}


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password
