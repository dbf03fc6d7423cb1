"""Credentials at rest: Fernet tokens under keys from the environment. MultiFernet encrypts
with the first key and decrypts with any, so keys rotate without downtime: put the new key
first, run `manage.py rotate_keys`, then drop the old key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "decrypt", "encrypt", "key_problems", "rotate"]


def dev_key(secret_key: str) -> bytes:
    """A stable development key, so DEBUG runs work with no key configured."""
    digest = hashlib.sha256(b"xcoresite-gateway-dev-key:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _configured_keys() -> list[str]:
    return [k.strip() for k in settings.GATEWAY_ENCRYPTION_KEYS if k.strip()]


def key_problems() -> list[str]:
    """What is wrong with the key configuration (empty when it is usable)."""
    keys = _configured_keys()
    if not keys and not settings.GATEWAY_DERIVE_DEV_KEY:
        return ["GATEWAY_ENCRYPTION_KEYS is empty and DEBUG is off: connection secrets cannot be stored."]
    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            problems.append(f"GATEWAY_ENCRYPTION_KEYS entry {position} is not a Fernet key.")
    return problems


def _fernet() -> MultiFernet:
    # Built per call (cheap) so override_settings and rotations take effect at once.
    keys = _configured_keys()
    if not keys:
        if not settings.GATEWAY_DERIVE_DEV_KEY:
            raise ImproperlyConfigured("GATEWAY_ENCRYPTION_KEYS is not set (see check gateway.E001).")
        keys = [dev_key(settings.SECRET_KEY).decode()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "GATEWAY_ENCRYPTION_KEYS holds an invalid key (check gateway.E002)."
        ) from None


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Raises InvalidToken when no configured key opens it (e.g. its key was dropped)."""
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """The same secret, re-encrypted under the first key."""
    return _fernet().rotate(token.encode()).decode()
