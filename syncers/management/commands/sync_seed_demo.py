"""Create the admin login, a connection to the bundled fake API and a demo client with a
schedule. Idempotent: running it again changes nothing and prints the same login."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from fakeapi.listings import CATALOG_PRODUCT_FIELDS, CATALOG_TAGS_FIELD
from gateway.models import Connection
from syncers.models import SyncClient, SyncRun, SyncSchedule
from syncers.services import sync_run_now_here, sync_run_request

DEMO_CLIENT = "demo-products"
# The destination demo (docs/concepts/destinations.md): categories and tags, then products with a
# category FK and tags many-to-many, loaded into the demo app's own models (catalog.Category,
# catalog.Tag, catalog.Product).
CATALOG_CLIENTS: dict[str, dict[str, Any]] = {
    "demo-categories": {
        "config": {"path": "/catalog/categories"},
        "destination": {
            "model": "catalog.Category",
            "key": ["code"],
            "fields": {"code": "code", "name": "name"},
        },
        "description": "The fake API's categories into catalog.Category.",
    },
    "demo-tags": {
        "config": {"path": "/catalog/tags"},
        "destination": {"model": "catalog.Tag", "key": ["slug"], "fields": {"slug": "slug", "name": "name"}},
        "description": "The fake API's tags into catalog.Tag.",
    },
    "demo-catalog": {
        "config": {"path": "/catalog/products", "page_size": 100},
        "destination": {
            "model": "catalog.Product",
            "key": ["sku"],
            "fields": {**CATALOG_PRODUCT_FIELDS, **CATALOG_TAGS_FIELD},
            "on_missing": "soft",
            "soft_delete_field": "is_active",
            "max_delete_fraction": 0.10,
            "hooks": {"after_write": "catalog.sync:refresh_category_counts"},
        },
        "description": "The fake API's products into catalog.Product (soft deletes, cached counts).",
    },
}


class Command(BaseCommand):
    help = "Seed an admin login and a demo sync client against the bundled fake API."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--api-url", default=settings.FAKEAPI_URL, help="fake API base URL")
        parser.add_argument(
            "--run-now",
            action="store_true",
            help="queue a first run of the demo client",
        )

    def handle(self, *args: Any, api_url: str, run_now: bool, **options: Any) -> None:
        username, password = self._admin_login()
        connection, _ = Connection.objects.update_or_create(
            name="fake-api",
            defaults={"base_url": api_url, "headers": {"Accept": "application/json"}},
        )
        client, created = SyncClient.objects.get_or_create(
            name=DEMO_CLIENT,
            defaults={
                "connection": connection,
                "handler": "demo_products",
                "config": {"page_size": 100},
                "batch_size": 200,
                "description": "Products from the bundled fake API (python -m fakeapi).",
            },
        )
        if created:
            SyncSchedule.objects.create(
                client=client,
                kind=SyncSchedule.Kind.INTERVAL,
                every=5,
                period="minutes",
            )
            SyncSchedule.objects.create(
                client=client,
                kind=SyncSchedule.Kind.CRON,
                cron="0 3 * * *",
                timezone="Europe/Berlin",
            )
        catalog = self._catalog_clients(connection)
        demo = [client, *catalog.values()]
        if run_now and SyncRun.objects.filter(client__in=demo, status=SyncRun.Status.SUCCEEDED).exists():
            # A restart of `make run`: the demo already synced, and its schedules keep it fresh.
            self.stdout.write("demo clients already synced; no run queued (their schedules keep them fresh)")
        elif run_now:
            run = sync_run_request(client=client, trigger=SyncRun.Trigger.COMMAND, who="make run")
            self.stdout.write(f"queued demo run #{run.pk}")
            # Categories and tags first, here, so the products' category and tag keys resolve.
            sync_run_now_here(client=catalog["demo-categories"], who="make run")
            sync_run_now_here(client=catalog["demo-tags"], who="make run")
            run = sync_run_request(
                client=catalog["demo-catalog"], trigger=SyncRun.Trigger.COMMAND, who="make run"
            )
            self.stdout.write(f"queued demo-catalog run #{run.pk} (into catalog.Product)")
        self.stdout.write(f"admin login: {username} / {password}")

    def _catalog_clients(self, connection: Connection) -> dict[str, SyncClient]:
        clients = {}
        for name, spec in CATALOG_CLIENTS.items():
            client, created = SyncClient.objects.get_or_create(
                name=name, defaults={"connection": connection, "handler": "rest", "batch_size": 200, **spec}
            )
            if created and name == "demo-catalog":
                SyncSchedule.objects.create(
                    client=client, kind=SyncSchedule.Kind.INTERVAL, every=5, period="minutes"
                )
            clients[name] = client
        return clients

    def _admin_login(self) -> tuple[str, str]:
        """The password is kept in var/ so every `make run` can print it again."""
        path = settings.VAR_DIR / "admin-login.txt"
        user_model = get_user_model()
        if path.exists() and user_model.objects.filter(username="admin").exists():
            return "admin", path.read_text().strip()
        password = secrets.token_urlsafe(12)
        user = user_model.objects.filter(username="admin").first() or user_model(
            username="admin", is_staff=True, is_superuser=True
        )
        user.set_password(password)
        user.save()
        path.write_text(password + "\n")
        path.chmod(0o600)
        return "admin", password
