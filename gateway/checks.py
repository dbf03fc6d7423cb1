"""System checks: without usable encryption keys the gateway cannot keep secrets, so the
project refuses to start (DEBUG runs fall back to a key derived from SECRET_KEY)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

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
