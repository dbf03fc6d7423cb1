"""Plugin rows in the database: manifests recorded on discovery (requested permissions
included), and configs validated against each plugin's schema."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from syncers.models.plugins import InstalledPlugin, PluginPermission

from .base import Plugin
from .errors import PluginError
from .manifest import parse_actions
from .registry import plugin_class, plugin_names
from .schema import SchemaError, defaults, validate
from .validation import (
    validate_plugin_config as validate_plugin_config,  # moved to validation; kept importable here
)

log = logging.getLogger(__name__)


def record_manifest(plugin_cls: type[Plugin]) -> InstalledPlugin:
    """Create or update the plugin's row and its requested permissions (idempotent). A new
    version asking for more than was granted is set back to "requested": grants cover what
    the operator saw, never more."""
    m = plugin_cls.manifest
    with transaction.atomic():
        row, created = InstalledPlugin.objects.select_for_update().get_or_create(
            name=m.name,
            defaults={
                "version": m.version,
                "description": m.description,
                "mode": m.mode,
                "actions": list(m.actions),
                "config": defaults(m.config_schema),
            },
        )
        if not created:
            changed = {
                "version": m.version,
                "description": m.description,
                "mode": m.mode,
                "actions": list(m.actions),
                "installed": True,
            }
            if any(getattr(row, k) != v for k, v in changed.items()):
                InstalledPlugin.objects.filter(pk=row.pk).update(**changed)
                for key, value in changed.items():
                    setattr(row, key, value)
        for perm in m.permissions:
            _record_request(row, perm.resource, perm.actions_text)
    return row


def _record_request(row: InstalledPlugin, resource: str, actions: str) -> None:
    existing = PluginPermission.objects.filter(plugin=row, resource=resource).first()
    if existing is None:
        PluginPermission.objects.create(plugin=row, resource=resource, actions=actions, from_manifest=True)
        return
    wanted, had = parse_actions(actions), parse_actions(existing.actions)
    if wanted <= had or "*" in had:
        return
    log.warning("plugin %s now asks %s on %s: back to requested", row.name, actions, resource)
    PluginPermission.objects.filter(pk=existing.pk).update(
        actions=actions,
        state=PluginPermission.State.REQUESTED,
        from_manifest=True,
        decided_by="",
        decided_at=None,
    )


def record_manifests() -> None:
    """Record every registered plugin; mark rows whose code is gone as not installed."""
    for name in plugin_names():
        record_manifest(plugin_class(name))
    InstalledPlugin.objects.exclude(name__in=plugin_names()).filter(installed=True).update(installed=False)


def plugin_row(name: str) -> InstalledPlugin:
    """The plugin's row, recorded from its manifest first if missing (UnknownPlugin if no code)."""
    cls = plugin_class(name)
    row = InstalledPlugin.objects.filter(name=name).first()
    if row is None:
        try:
            row = record_manifest(cls)
        except IntegrityError:  # another process recorded it at the same moment
            row = InstalledPlugin.objects.get(name=name)
    return row


def plugin_config(name: str) -> dict[str, Any]:
    """The stored config, validated (defaults filled in) at the moment of use."""
    row = plugin_row(name)
    try:
        return validate(plugin_class(name).manifest.config_schema, row.config)
    except SchemaError as exc:
        raise PluginError(f"plugin {name} is not configured correctly ({exc}); fix it in the admin") from None
