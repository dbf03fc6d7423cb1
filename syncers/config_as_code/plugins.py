"""The `plugins` section: whether each plugin is enabled, its config, and what it may touch.

    plugins:
      - name: data_syncer
        enabled: true
        config: {page_size: 500}
        permissions:                      # exactly these are decided; the rest stay requested
          - {resource: service:scheduler, actions: write}
          - {resource: "db.*", actions: write, state: refused}

A listed permission is granted unless it says `state: refused`. When `permissions` is given, a
permission the plugin's manifest requested but the file does not list goes back to requested
(not granted), and one an operator added by hand is removed. Plugins the file does not name
are left as they are."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from syncers.models.plugins import InstalledPlugin, PluginPermission
from syncers.plugins.config import plugin_row
from syncers.plugins.errors import UnknownPlugin
from syncers.plugins.manifest import validate_grant
from syncers.plugins.operations import permission_decide, plugin_configure, plugin_set_enabled
from syncers.plugins.validation import validate_plugin_config

from .common import ConfigError, Plan, items, messages, refuse_unknown

WHO = "sync_apply"
STATES = {"granted": True, "refused": False}


def apply_plugins(data: dict[str, Any], plan: Plan) -> None:
    for index, spec in enumerate(items(data, "plugins")):
        where = f"plugins[{index}] ({spec['name']})"
        refuse_unknown(spec, {"name", "enabled", "config", "permissions"}, where)
        try:
            row = plugin_row(spec["name"])
        except UnknownPlugin as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if "enabled" in spec and bool(spec["enabled"]) != row.enabled:
            plugin_set_enabled(name=row.name, enabled=bool(spec["enabled"]), who=WHO)
            plan.note(f"~ plugin {row.name}: enabled={bool(spec['enabled'])}")
        if "config" in spec:
            _apply_config(row, spec["config"], where, plan)
        if "permissions" in spec:
            _apply_permissions(row, spec["permissions"], where, plan)


def _apply_config(row: InstalledPlugin, config: Any, where: str, plan: Plan) -> None:
    if (config or {}) == row.config:
        # Unchanged: an export of a plugin nobody configured yet (required keys still missing)
        # applies as a no-op instead of failing; the plugin itself refuses to run until it is.
        return
    try:
        wanted = validate_plugin_config(row.name, config or {})
    except ValidationError as exc:
        raise ConfigError(f"{where}: {messages(exc)}") from None
    if wanted != row.config:
        plugin_configure(name=row.name, config=wanted, who=WHO)
        plan.note(f"~ plugin {row.name}: config")


def _apply_permissions(row: InstalledPlugin, specs: Any, where: str, plan: Plan) -> None:
    if not isinstance(specs, list):
        raise ConfigError(f"{where}: 'permissions' must be a list")
    existing = {p.resource: p for p in PluginPermission.objects.filter(plugin=row).select_related("plugin")}
    declared = set()
    for i, spec in enumerate(specs):
        at = f"{where}.permissions[{i}]"
        resource, actions, grant = _permission(row, spec, at)
        declared.add(resource)
        perm = existing.get(resource)
        if perm is None:
            perm = PluginPermission.objects.create(plugin=row, resource=resource, actions=actions)
            plan.note(f"+ plugin {row.name}: {resource} [{actions}]")
        elif perm.actions != actions:
            perm.actions = actions
            perm.save(update_fields=["actions"])
            plan.note(f"~ plugin {row.name}: {resource} actions={actions}")
        state = PluginPermission.State.GRANTED if grant else PluginPermission.State.REFUSED
        if perm.state != state:
            permission_decide(permission=perm, grant=grant, who=WHO)
            plan.note(f"~ plugin {row.name}: {resource} {state}")
    for resource, perm in existing.items():
        if resource in declared:
            continue
        if not perm.from_manifest:
            perm.delete()
            plan.note(f"- plugin {row.name}: {resource}")
        elif perm.state != PluginPermission.State.REQUESTED:
            PluginPermission.objects.filter(pk=perm.pk).update(
                state=PluginPermission.State.REQUESTED, decided_by=WHO, decided_at=None
            )
            plan.note(f"~ plugin {row.name}: {resource} requested (no longer decided)")


def _permission(row: InstalledPlugin, spec: Any, where: str) -> tuple[str, str, bool]:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a permission is a mapping with resource and actions")
    refuse_unknown(spec, {"resource", "actions", "state"}, where)
    state = str(spec.get("state", "granted"))
    if state not in STATES:
        raise ConfigError(f"{where}: state must be granted or refused, not '{state}'")
    try:
        actions = validate_grant(
            str(spec.get("resource", "")), str(spec.get("actions", "")), mode=row.mode, state=state
        )
    except ValidationError as exc:
        raise ConfigError(f"{where}: {messages(exc)}") from None
    return str(spec["resource"]), actions, STATES[state]


def export_plugins() -> list[dict[str, Any]]:
    out = []
    for row in (
        InstalledPlugin.objects.filter(installed=True).prefetch_related("permissions").order_by("name")
    ):
        decided = [p for p in row.permissions.all() if p.state != PluginPermission.State.REQUESTED]
        permissions = []
        for perm in sorted(decided, key=lambda p: p.resource):
            item = {"resource": perm.resource, "actions": perm.actions}
            if perm.state == PluginPermission.State.REFUSED:
                item["state"] = "refused"
            permissions.append(item)
        entry: dict[str, Any] = {"name": row.name, "enabled": row.enabled}
        if row.config:  # never configured: nothing to write (an empty config would not validate)
            entry["config"] = row.config
        out.append({**entry, "permissions": permissions})
    return out
