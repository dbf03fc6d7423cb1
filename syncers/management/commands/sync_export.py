"""Write the current setup as YAML in the format sync_apply reads (secrets as env references)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from syncers.config_as_code import dump_yaml, export_config


class Command(BaseCommand):
    help = "Print connections, clients and schedules as YAML for sync_apply."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(dump_yaml(export_config()), ending="")
