"""Re-encrypt every stored connection secret under the first GATEWAY_ENCRYPTION_KEYS key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from gateway import crypto
from gateway.models import Connection


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection secret with the first key of GATEWAY_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; then the old key can be dropped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated, failed = 0, []
        rows = Connection.objects.exclude(secret_ciphertext="").values_list("pk", "name", "secret_ciphertext")
        for pk, name, token in rows.iterator():
            try:
                new = crypto.rotate(token)
            except crypto.InvalidToken:
                failed.append(name)
                continue
            # Compare-and-set: a secret changed in the admin meanwhile is left as it is (and
            # is already under the first key).
            rotated += Connection.objects.filter(pk=pk, secret_ciphertext=token).update(secret_ciphertext=new)
        self.stdout.write(f"re-encrypted {rotated} connection secret(s) with the first key")
        if failed:
            raise CommandError(
                f"no configured key decrypts the secret of: {', '.join(failed)} (was its key dropped too early?)"
            )
