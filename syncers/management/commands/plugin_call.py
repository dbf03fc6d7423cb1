"""Call a plugin's action with a JSON payload and print its JSON result."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncers.plugins import PluginError
from syncers.plugins.operations import plugin_call


class Command(BaseCommand):
    help = (
        "Call <plugin> <action> with --payload '{...}' and print the JSON result. Exit 1 on any "
        'error (one line on stderr) and when the result says "ok": false.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("plugin", help="plugin name (its manifest name)")
        parser.add_argument("action", help="one of the plugin's actions, e.g. force_sync")
        parser.add_argument("--payload", default="{}", help="a JSON object (default {})")

    def handle(self, *args: Any, plugin: str, action: str, payload: str, **options: Any) -> None:
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--payload is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CommandError(f"--payload must be a JSON object, not {type(data).__name__}")
        try:
            result = plugin_call(name=plugin, action=action, payload=data, who="manage.py plugin_call")
        except (PluginError, ValidationError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", None) or [str(exc)])) from None
        except Exception as exc:  # recorded on the plugin run; the shell gets one line
            raise CommandError(f"{plugin} {action} failed: {type(exc).__name__}: {exc}") from None
        self.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str))
        if result.get("ok") is False:
            raise CommandError(f"{plugin} {action}: {result.get('error') or 'the plugin answered ok=false'}")
