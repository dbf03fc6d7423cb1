"""Turn a client's inbound webhook (POST /hooks/<client>/) on with a new secret, or off."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.models import SyncClient
from syncers.selectors import client_get


class Command(BaseCommand):
    help = "Give a client a new webhook secret (printed once, stored encrypted) or switch its webhook off."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="client name or id")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--new-secret", action="store_true", help="generate and print a new secret")
        group.add_argument("--off", action="store_true", help="refuse all pushes from now on")

    def handle(self, *args: Any, client: str, new_secret: bool, off: bool, **options: Any) -> None:
        try:
            target = client_get(ref=client)
        except SyncClient.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        secret = secrets.token_urlsafe(32) if new_secret else ""
        target.set_hook_secret(secret)
        SyncClient.objects.filter(pk=target.pk).update(hook_secret_ciphertext=target.hook_secret_ciphertext)
        if off:
            self.stdout.write(f"webhook of {target.name} is off")
            return
        self.stdout.write(
            f"POST /hooks/{target.name}/ with headers X-Xcoresite-Timestamp: <Unix seconds> and "
            "X-Xcoresite-Signature: sha256=<hex HMAC-SHA256 of '<timestamp>.<body>'> "
            "(docs: Security, Signing webhook deliveries)"
        )
        self.stdout.write(f"secret (shown once): {secret}")
