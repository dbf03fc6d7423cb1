"""Re-encrypt every stored secret under the first GATEWAY_ENCRYPTION_KEYS key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import models

from gateway import crypto
from gateway.fields import encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (connection secrets, webhook secrets: every encrypted "
        "field) with the first key of GATEWAY_ENCRYPTION_KEYS. Run it after putting a new key "
        "first; then the old key can be dropped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        failed: list[str] = []
        for model, field in encrypted_fields():
            rotated = _rotate_field(model, field, failed)
            self.stdout.write(
                f"re-encrypted {rotated} secret{'' if rotated == 1 else 's'} in {model._meta.label}.{field} "
                "with the first key"
            )
        if failed:
            raise CommandError(
                f"no configured key decrypts: {', '.join(failed)} (was its key dropped too early?)"
            )


def _rotate_field(model: type[models.Model], field: str, failed: list[str]) -> int:
    rotated = 0
    rows = model._default_manager.exclude(**{field: ""}).values_list("pk", field)
    for pk, token in rows.iterator():
        try:
            new = crypto.rotate(token)
        except crypto.InvalidToken:
            failed.append(f"{model._meta.label} {_name(model, pk)} ({field})")
            continue
        # Compare-and-set: a secret changed meanwhile is left as it is (already under the first key).
        rotated += model._default_manager.filter(pk=pk, **{field: token}).update(**{field: new})
    return rotated


def _name(model: type[models.Model], pk: object) -> str:
    return str(model._default_manager.filter(pk=pk).values_list("name", flat=True).first() or pk)
