"""System checks: without usable encryption keys the gateway cannot keep secrets, so the
project refuses to start (DEBUG runs fall back to a key derived from SECRET_KEY)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from . import crypto

_HINT = (
    "Set GATEWAY_ENCRYPTION_KEYS to one or more comma-separated Fernet keys, e.g. from "
    '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
)


@register("gateway")
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for problem in crypto.key_problems():
        code = "gateway.E001" if "is empty" in problem else "gateway.E002"
        errors.append(Error(problem, hint=_HINT, id=code))
    return errors


@register("gateway", Tags.security)
def check_trust_env(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Through a proxy, the proxy resolves the host name again: our address check does not bind it."""
    if not settings.GATEWAY_TRUST_ENV:
        return []
    return [
        Warning(
            "GATEWAY_TRUST_ENV is on: requests may go through a proxy from the environment, which resolves "
            "host names itself, so the SSRF guard's address check does not cover them.",
            hint="Restrict what the proxy may reach (no loopback, private or metadata addresses), or leave "
            "GATEWAY_TRUST_ENV off.",
            id="gateway.W001",
        )
    ]
