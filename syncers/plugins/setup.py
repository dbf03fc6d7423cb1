"""Start-up wiring, run from SyncersConfig.ready() (through syncers.console.plugins): discover
`sync_plugins` modules, register each plugin task with Celery under its frozen name, and
record manifests after every migrate (and flush)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_migrate

from . import tasks
from .registry import autodiscover


def ready() -> None:
    autodiscover()
    tasks.register_plugin_tasks()
    post_migrate.connect(_record_manifests, dispatch_uid="syncers.plugins.record_manifests")


def _record_manifests(sender: Any, app_config: Any = None, **kwargs: Any) -> None:
    if getattr(app_config, "label", None) != "syncers":
        return
    from .config import record_manifests

    record_manifests()
