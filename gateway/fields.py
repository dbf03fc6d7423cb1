"""Encrypted columns. A secret at rest is a Fernet token in an EncryptedTextField; the class is
the registry: `rotate_keys` re-encrypts every field of it in every installed model, so a new
encrypted column cannot be forgotten at the next key rotation."""

from __future__ import annotations

from django.apps import apps
from django.db import models


class EncryptedTextField(models.TextField[str, str]):
    """Holds `gateway.crypto.encrypt(...)` output (or "" for no secret); never a plaintext."""


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) holding a secret under GATEWAY_ENCRYPTION_KEYS."""
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]
